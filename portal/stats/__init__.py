"""Usage statistics counted the COUNTER way: views, downloads and launches, robots out, no identities kept."""
