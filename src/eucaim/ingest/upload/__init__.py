"""Targets that receive de-identified instances: a DICOMweb node (ours or any PACS), XNAT, memory."""
