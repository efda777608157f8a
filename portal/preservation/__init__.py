"""Preservation: fixity audits of stored files, BagIt packages of published versions, tombstones of removed
records ("Share ≠ Publish ≠ Preserve")."""
