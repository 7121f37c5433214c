"""Alembic migration scripts of the node's database (run through eucaim.node.migration)."""
