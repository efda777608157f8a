"""Exports of records: DataCite, schema.org JSON-LD, CSL-JSON and citations, BibTeX, Dublin Core; OAI-PMH."""
