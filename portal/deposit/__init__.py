"""Deposits: drafts filled through the API (InvenioRDM's and Zenodo's shapes, tus resumable uploads), their bytes in
the upload store until publication places them in the catalogue's storage and ingests them like `portal ingest`."""
