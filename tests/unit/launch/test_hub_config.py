"""The embedded hub's generated config: valid Python for every combination, secrets kept out of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.launch.hub import Hub


@pytest.mark.parametrize("portal_url", ["", "http://127.0.0.1:5000"])
@pytest.mark.parametrize("system_users", [False, True])
def test_the_config_compiles_and_keeps_the_client_secret_out(
    tmp_path: Path, portal_url: str, system_users: bool
) -> None:
    hub = Hub(
        tmp_path / "hub",
        portal_url=portal_url,
        client_id="hub-client",
        client_secret="the-client-secret-1234",
        system_users=system_users,
        homes=tmp_path / "homes",
        idle_timeout=600 if system_users else 0,
    )
    path = hub.write_config()
    text = path.read_text()
    compile(text, str(path), "exec")
    assert "the-client-secret-1234" not in text  # it reaches the hub in its environment only
    assert (path.stat().st_mode & 0o777) == 0o600 and ((tmp_path / "hub").stat().st_mode & 0o777) == 0o700
    assert f"PORTAL_URL = {portal_url!r}" in text and f"SYSTEM_USERS = {system_users!r}" in text
    assert ("IDLE_TIMEOUT = 600" in text) == system_users and "jupyterhub_idle_culler" in text


def test_system_users_need_a_home_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="homes"):
        Hub(tmp_path / "hub", system_users=True).write_config()
