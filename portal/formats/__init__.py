"""File formats: one module per format (root, parquet, hdf5, csv), each a FileFormat (base.py) registered in
the ``portal.formats`` entry-point group, and the collection the services use (collection.py)."""
