"""Persistent identifiers (DOIs): providers behind one interface, chosen by the `pid_provider` setting."""
