"""The node's DICOMweb logic: indexed attributes, instance headers, STOW checks, QIDO queries."""
