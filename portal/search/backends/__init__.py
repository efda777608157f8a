"""Search backends: the text part of search per database (SQLite FTS5, PostgreSQL full text) and its doubles."""
