"""Curated demo records and deterministic generators of demo and sample data."""
