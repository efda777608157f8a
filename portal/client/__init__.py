"""A download client for any server speaking the CERN Open Data record API (`portal get`, also a library).

`records.list_files` reads what a record offers (`/api/records/<recid>`, its `_file_indices`, and
`/api/records/<recid>/files?index=KEY` pages); `download.download` fetches the files in parallel threads over
HTTPS (resumed with HTTP Range) or `root://` (the XRootD client), verifying each checksum while streaming.
Nothing is imported here, so `portal --help` stays light.
"""
