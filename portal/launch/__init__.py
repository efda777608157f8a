"""Launching built environments as JupyterHub named servers, with the record's files as a fileset."""
