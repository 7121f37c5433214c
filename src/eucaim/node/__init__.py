"""eucaim-node, the EUCAIM reference node: per-biobank DICOMweb storage of de-identified data.

Start at ``app.create_app`` (HTTP) or ``cli.main`` (command line); ``services`` holds the use cases.
"""
