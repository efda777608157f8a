"""A local wheelhouse so the venv builder builds offline: the pinned requirements of `analysis_envs/` that the
portal's own environment does not already satisfy are downloaded once, at install time (`portal env prefetch`,
run by `make install`), and builds install them from here without reaching a package index."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from portal.errors import Invalid
from portal.i18n import N_

DEFAULT_WHEELHOUSE = Path(sys.prefix) / "share" / "portal" / "wheelhouse"


def requirement_lines(text: str) -> list[str]:
    """The requirements of a requirements.txt text: its lines without blanks and comments."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def unsatisfied(lines: Iterable[str]) -> list[str]:
    """The requirements the running environment does not satisfy (missing, or another version)."""
    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise Invalid(N_("bad requirement {line!r}: {exc}"), line=line, exc=exc, field="requirements.txt") from None
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(line)
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            out.append(line)
    return out


def prefetch(envs_root: Path, wheelhouse: Path = DEFAULT_WHEELHOUSE) -> list[str]:
    """Download what the environments under ``envs_root`` need beyond the portal's packages; returns it."""
    wanted: list[str] = []
    for req_file in sorted(envs_root.glob("*/requirements.txt")):
        lines = requirement_lines(req_file.read_text(encoding="utf-8"))
        wanted += [line for line in unsatisfied(lines) if line not in wanted]
    if wanted:
        wheelhouse.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "-q",
                "-d",
                str(wheelhouse),
                *wanted,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise Invalid(
                N_("pip download failed for {wanted}: {stderr}"),
                wanted=", ".join(wanted),
                stderr=proc.stderr.strip()[-500:],
                field="requirements.txt",
            )
    return wanted


def prefetch_images(
    envs_root: Path, server: list[str], python_version: str, wheelhouse: Path = DEFAULT_WHEELHOUSE
) -> list[str]:
    """Download everything image builds install (their venvs share nothing with the portal's): the Jupyter server
    packages ``server`` and every requirement of the environments under ``envs_root``, with all dependencies, as
    wheels for the images' Python ``python_version`` (Debian's, often older than the portal's: some releases need
    a newer patch level), so the podman builder builds them with ``--no-index``. Returns the requirements."""
    wanted = list(server) + ["setuptools", "wheel"]
    for req_file in sorted(envs_root.glob("*/requirements.txt")):
        wanted += [line for line in requirement_lines(req_file.read_text(encoding="utf-8")) if line not in wanted]
    wheelhouse.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(wheelhouse),
            "--only-binary=:all:",
            "--python-version",
            python_version,
            *wanted,
        ],  # fmt: skip
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise Invalid(
            N_("pip download failed for the image builds: {stderr}"),
            stderr=proc.stderr.strip()[-500:],
            field="requirements.txt",
        )
    return wanted
