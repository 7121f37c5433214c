"""The workspace's state database: one row per instance, one transaction per transition."""
