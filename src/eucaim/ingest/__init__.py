"""eucaim-ingest: the Data Ingestion tool run by a data holder (CLI and local web app)."""
