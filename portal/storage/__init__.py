"""Storage backends behind one interface: a local directory, or an XRootD endpoint (EOS-like)."""
