"""The demo catalogue (`records/`) and deterministic generators of the demo and sample data it describes."""

from pathlib import Path

RECORDS = Path(__file__).resolve().parent / "records"  # package data: here in a checkout and in an installed wheel
