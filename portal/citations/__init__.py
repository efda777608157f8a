"""Who cites a record: external citing works (DOI, arXiv, INSPIRE) added by owners and curators or imported from
Scholix link files, alongside the records of the portal that relate to it."""
