"""Long node jobs (creation, aggregation, store migration): a PostgreSQL queue, or in process on SQLite."""
