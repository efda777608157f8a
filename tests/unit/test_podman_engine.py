"""How the portal calls podman, checked without running it."""

from __future__ import annotations

from pathlib import Path

from portal.environments.engine import Podman


def test_the_store_is_named_by_its_real_path_whatever_link_leads_to_it(tmp_path: Path) -> None:
    # podman refuses a store it first met under another path ("database configuration mismatch"): a worktree's
    # .venv symlink and the real venv (pytest's shebang) must give podman the same --root and --runroot
    real = tmp_path / "venv" / "share" / "portal" / "images"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "venv")
    via_link = Podman(tmp_path / "link" / "share" / "portal" / "images").argv
    direct = Podman(real).argv
    assert via_link == direct
    assert via_link[via_link.index("--root") + 1] == str(real.resolve() / "storage")
    assert via_link[via_link.index("--runroot") + 1] == str(real.resolve() / "run")
