"""The file formats registered in the ``portal.formats`` entry points, built the way the services build them."""

from __future__ import annotations

from functools import cache

from portal.formats.collection import Formats
from portal.services import build_formats
from portal.settings import load_settings


@cache
def registered_formats() -> Formats:
    """Every registered format, in the services' order of preference (for tests that run without an app)."""
    return build_formats(load_settings(environ={}))
