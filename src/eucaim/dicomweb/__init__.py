"""DICOMweb pieces both programs share: multipart bodies, media types, STOW responses, statuses."""
