"""The local web application of eucaim-ingest (``eucaim-ingest ui``): the CLI's use cases in a browser."""
