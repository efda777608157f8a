"""Benchmarks: each module measures against named comparators and prints a table (`make bench`)."""
