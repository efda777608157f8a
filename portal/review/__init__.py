"""Curated collections and the review of drafts submitted to them (InvenioRDM's communities and requests)."""
