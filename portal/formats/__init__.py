"""Format identification from content, and inspectors for ROOT, HDF5, Parquet and CSV files."""
