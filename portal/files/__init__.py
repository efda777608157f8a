"""File rows, downloads, file-index documents, sample packs and ingest."""
