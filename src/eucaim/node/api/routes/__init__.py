"""Route modules of the node, one per area."""
