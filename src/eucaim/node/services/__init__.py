"""Use cases of the node; the only code that touches the database. Sessions are passed in."""
