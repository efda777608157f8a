"""Software from git releases (the Zenodo–GitHub integration): connected repositories, signed release webhooks,
and every delivery with its outcome."""
