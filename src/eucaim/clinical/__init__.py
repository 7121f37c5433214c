"""Clinical data on the data holder's side: read, map, validate, pseudonymise, link with imaging.

loader (csv_reader, xlsx_reader, json_reader) -> Table          IO: files in
mapping        a site's column names and codes onto the schema's (TOML)
schema         the declared, versioned schema (schemas/*.json) and extensions
validation     one pass over the table -> ValidationResult (issues + typed rows); rules, values
pseudonymise   typed rows -> ClinicalRecord under the imaging pseudonym and date offset
upload         records_to_upload: what a push sends (valid files only, unchanged skipped)
record_check   the node's second check of an uploaded record
linkage        clinical patients vs imaging patients
report         terminal table, CSV and HTML                       IO: files out
template       empty template, example and mapping skeleton       IO: files out
intake         check_file: the use case the CLI and web UI call
"""
