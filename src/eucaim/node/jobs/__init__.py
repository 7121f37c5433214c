"""Long node jobs: a durable queue in PostgreSQL (procrastinate), or threads on embedded SQLite."""
