"""Open-data portal for experiment data: catalogue, storage, search, analyses and environments."""

__version__ = "0.1.0"
