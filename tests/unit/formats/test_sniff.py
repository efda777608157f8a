"""Formats are identified from the content's magic bytes, whatever the file is called."""

from __future__ import annotations

import os

import pytest

from portal.formats.hdf5 import MAGIC as HDF5_MAGIC
from tests.support.formats import registered_formats

FORMATS = registered_formats()
sniff = FORMATS.sniff


def expected_format(name: str) -> str | None:
    fmt = FORMATS.for_path(name)
    return fmt.name if fmt else None


@pytest.mark.parametrize(
    ("head", "tail", "fmt"),
    [
        (b"root\x00\x00\xf8\x5a" + b"\x00" * 50, b"", "root"),
        (HDF5_MAGIC + b"\x00" * 50, b"", "hdf5"),
        (b"PAR1\x15\x04", b"\x00\x00PAR1", "parquet"),
        (b"run,event,M\n1,2,3.1\n1,3,9.4\n", b"", "csv"),
        (b'{"a": 1}', b"", "json"),
        (b"just some words\n", b"", "text"),
        (bytes(range(128, 256)) * 4, b"", "binary"),
    ],
)
def test_sniff_reads_the_content(head, tail, fmt):
    assert sniff(head, tail) == fmt


def test_parquet_needs_its_footer_magic():
    # a Parquet file cut short keeps its head magic but loses the footer one
    assert sniff(b"PAR1\x15\x04", b"\x12\x34\x56\x78") != "parquet"


def test_random_bytes_are_not_hdf5_whatever_the_name():
    head = os.urandom(8192)
    assert sniff(head, head[-4:]) not in ("root", "hdf5", "parquet")
    assert expected_format("events.H5") == "hdf5" and expected_format("notes.md") is None


def test_utf8_character_cut_at_the_sample_end_is_still_text():
    sample = ("é" * 2048).encode()[:4095]
    assert sniff(sample) == "text"
