"""An analysis environment's requirements closed over their dependencies in the portal's environment: what it
links (and nothing of the portal's own packages), and what it must install."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from portal.environments.closure import closure, link_closure


def test_the_closure_follows_dependencies_and_leaves_the_portal_out() -> None:
    found, missing = closure([f"uproot=={metadata.version('uproot')}", "hist"])
    assert {"uproot", "awkward", "numpy", "hist", "boost-histogram"} <= set(found)
    assert not {"flask", "portal", "sqlalchemy"} & set(found)
    assert missing == []


def test_unsatisfied_pins_and_unknown_packages_are_left_to_install() -> None:
    found, missing = closure(["numpy==0.0.1", "no-such-distribution-here"])
    assert "numpy" not in found
    assert sorted(missing) == ["no-such-distribution-here", "numpy==0.0.1"]


def test_linked_folder_holds_the_distributions_top_level_entries(tmp_path: Path) -> None:
    linked, _ = link_closure(["hist"], tmp_path / "linked")
    names = {p.name for p in (tmp_path / "linked").iterdir()}
    assert "hist" in names and "numpy" in names and "flask" not in names
    assert all((tmp_path / "linked" / n).is_symlink() for n in names)
    assert "hist" in linked
