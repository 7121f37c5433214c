"""The transfer pipeline: de-identify, send, verify, report, with its state in the workspace."""
