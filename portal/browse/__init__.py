"""Browsing: what the portal's pages show, composed from the catalogue, search, exports and launches."""
