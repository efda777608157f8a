"""Z boson candidates in dimuon events (a demo analysis of the portal)."""
