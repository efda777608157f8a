"""Reproducible analysis environments: repo2docker spec detection, builders and the build cache."""
