"""Seams: implementations found by name through entry points, errors naming the setting, doubles flagged."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points

import pytest

from portal import registry
from portal.errors import Invalid, Unavailable
from portal.registry import PIDS, STORAGE, Seam
from portal.settings import load_settings


def test_every_builtin_is_registered_and_loads():
    assert {"local", "xrootd", "memory", "down"} <= set(STORAGE.names())
    assert {"local", "recording", "down"} <= set(PIDS.names())
    for seam in (STORAGE, PIDS):
        for name in seam.names():
            assert hasattr(seam.load(name), "from_settings"), f"{seam.group}:{name} has no from_settings"


def test_an_unknown_name_is_refused_naming_the_setting_and_the_choices():
    with pytest.raises(Invalid) as err:
        STORAGE.create("ceph", load_settings(environ={}))
    assert err.value.field == "PORTAL_STORAGE_BACKEND"
    assert "choose one of: down, local, memory, xrootd" in err.value.message


def test_a_backend_needing_a_setting_names_it():
    with pytest.raises(Invalid, match="PORTAL_XROOTD_URL"):
        STORAGE.create("xrootd", load_settings({"xrootd_url": ""}, environ={}))


def test_doubles_are_announced_as_not_for_production(caplog):
    with caplog.at_level(logging.WARNING, logger="portal.registry"):
        pids = PIDS.create("down", load_settings(environ={}))
    assert "NOT FOR PRODUCTION" in caplog.text
    with pytest.raises(Unavailable, match="DOI registry is down"):
        pids.register(pids.mint(7), "http://portal.test/record/7")


def test_a_third_party_package_adds_a_backend_by_entry_point(tmp_path, monkeypatch):
    dist = tmp_path / "portal_ceph-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: portal-ceph\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[portal.storage]\nceph = portal_ceph:CephStorage\n")
    (tmp_path / "portal_ceph.py").write_text(
        "class CephStorage:\n"
        "    name = 'ceph'\n"
        "    @classmethod\n"
        "    def from_settings(cls, settings):\n"
        "        return cls()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_points.cache_clear()
    try:
        assert any(ep.name == "ceph" for ep in entry_points(group="portal.storage"))
        assert STORAGE.create("ceph", load_settings(environ={})).name == "ceph"
    finally:
        registry._entry_points.cache_clear()
        sys.modules.pop("portal_ceph", None)


def test_a_seam_with_nothing_registered_says_so():
    with pytest.raises(Invalid, match="none registered"):
        Seam("nothing-here", "x").load("a")
