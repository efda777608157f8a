"""The builder and launcher seams: every implementation registered by name, chosen by its setting, doubles
announced as not for production, and services.py the one place that turns the names into objects."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from portal.environments.builders import Repo2DockerBuilder, VenvBuilder
from portal.environments.doubles import FailingBuilder, InstantBuilder
from portal.environments.podman_builder import PodmanBuilder
from portal.errors import Invalid
from portal.launch.doubles import DownLauncher, RecordingLauncher, SlowLauncher
from portal.launch.jupyterhub import JupyterHubLauncher
from portal.registry import BUILDERS, LAUNCHERS
from portal.services import build_services
from portal.settings import load_settings

REAL = {
    "venv": VenvBuilder,
    "repo2docker": Repo2DockerBuilder,
    "podman": PodmanBuilder,
    "jupyterhub": JupyterHubLauncher,
}
DOUBLES = {
    "instant": InstantBuilder,
    "failing": FailingBuilder,
    "recording": RecordingLauncher,
    "slow": SlowLauncher,
    "down": DownLauncher,
}


def test_every_builder_and_launcher_is_registered_and_built_from_settings(tmp_path):
    settings = load_settings({"var_dir": str(tmp_path)}, environ={})
    assert {"venv", "repo2docker", "podman", "instant", "failing"} <= set(BUILDERS.names())
    assert {"jupyterhub", "recording", "slow", "down"} <= set(LAUNCHERS.names())
    for seam in (BUILDERS, LAUNCHERS):
        for name in set(seam.names()) & ({*REAL, *DOUBLES}):
            built = seam.create(name, settings)
            assert type(built) is {**REAL, **DOUBLES}[name] and built.name == name
            assert getattr(type(built), "development_only", False) is (name in DOUBLES), name
    assert BUILDERS.create("venv", settings).cache_dir == tmp_path / "environments" / "builds"  # type: ignore[attr-defined]
    assert LAUNCHERS.create("recording", settings).work_root == tmp_path / "environments" / "sessions"  # type: ignore[attr-defined]


def test_an_unknown_builder_or_launcher_names_its_setting_and_the_choices():
    with pytest.raises(Invalid) as err:
        BUILDERS.create("kaniko", load_settings(environ={}))
    assert (
        err.value.field == "PORTAL_LAUNCH_BUILDER"
        and "failing, instant, podman, repo2docker, venv" in err.value.message
    )
    with pytest.raises(Invalid) as err:
        LAUNCHERS.create("kubespawner", load_settings(environ={}))
    assert err.value.field == "PORTAL_LAUNCH_LAUNCHER" and "down, jupyterhub, recording, slow" in err.value.message


def test_services_inject_the_builder_and_launcher_the_settings_name(tmp_path, caplog):
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'portal.sqlite'}",
        "var_dir": str(tmp_path / "var"),
        "launch_builder": "instant",
        "launch_launcher": "slow",
    }
    with caplog.at_level(logging.WARNING, logger="portal.registry"):
        svc = build_services(load_settings(settings, environ={}))
    try:
        assert svc.launches is not None
        assert isinstance(svc.launches.builder, InstantBuilder)
        assert isinstance(svc.launches.launcher, SlowLauncher)
        assert svc.launches.builder.cache_dir == Path(tmp_path / "var" / "environments" / "builds")
    finally:
        svc.close()
    assert "builders backend 'instant' is NOT FOR PRODUCTION" in caplog.text
    assert "launchers backend 'slow' is NOT FOR PRODUCTION" in caplog.text
