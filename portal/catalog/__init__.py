"""Records, versions, PIDs, the record JSON schema and importers."""
