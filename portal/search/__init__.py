"""Search: the query language, the index kept in step with the catalogue, and backends (SQLite FTS5, PostgreSQL)."""
