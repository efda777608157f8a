"""The portal image (Containerfile) built for real with podman from a Debian base made by mmdebstrap from Debian's own
packages (no image registry is reachable here), then `portal --version` run in it.

It takes about 4 minutes (mmdebstrap, then pip installing the wheel's dependencies inside the build); it runs with
the other podman modules on one xdist worker (tests/conftest.py), and PORTAL_TEST_IMAGE=0 skips it. It skips, naming
what is missing, without podman, runc, mmdebstrap or root; CI has them (`make install`). podman here needs
`--runtime runc` (crun fails on this kernel's cgroups) and `default_ulimits = []` (given through a private
CONTAINERS_CONF, so the machine's configuration is left alone).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.images import build_network, show_cgroups

ROOT = Path(__file__).resolve().parents[2]
BASE_PACKAGES = "python3,python3-venv,ca-certificates,xrootd-server,xrootd-client,tini"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# a CITATION.cff converted the way releases are (portal.releases.metadata), inside the image
CFF_CHECK = (
    "from portal.releases.metadata import zenodo_from_cff\n"
    "cff = 'cff-version: 1.2.0\\nmessage: m\\ntitle: Dimuon fitter\\nauthors:\\n  - family-names: Doe\\n'\n"
    "print(zenodo_from_cff(cff)['title'])"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("PORTAL_TEST_IMAGE") == "0", reason="PORTAL_TEST_IMAGE=0 skips the 4-minute image build"
    ),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("podman", "runc", "mmdebstrap")),
        reason="needs podman, runc and mmdebstrap (apt-get install -y podman runc mmdebstrap)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="rootful podman and mmdebstrap need root here"),
    pytest.mark.timeout(1800),
]


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def podman() -> Iterator[list[str]]:
    """podman with private storage, runc and no default ulimits (rootful runc cannot raise them here)."""
    # not under pytest's tmp_path: podman refuses a runroot longer than 50 characters, which xdist's
    # /tmp/pytest-of-root/pytest-N/popen-gwN/... exceeds
    where = Path(tempfile.mkdtemp(prefix="portal-image-"))
    conf = where / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    os.environ["CONTAINERS_CONF"] = str(conf)
    yield [
        "podman",
        "--root",
        str(where / "root"),
        "--runroot",
        str(where / "run"),
        "--runtime",
        shutil.which("runc") or "runc",
    ]
    subprocess.run(
        ["podman", "--root", str(where / "root"), "--runroot", str(where / "run"), "system", "reset", "-f"],
        capture_output=True,
    )
    shutil.rmtree(where, ignore_errors=True)
    os.environ.pop("CONTAINERS_CONF", None)


def test_the_image_builds_from_a_debian_base_and_runs_the_portal(podman: list[str], tmp_path: Path) -> None:
    # the tests run in a loopback-only namespace (tests/run-isolated): Debian's mirror and PyPI are reached from the
    # machine's one, as the podman builder does (tests/support/images.py); the image then runs with no network
    network = build_network()
    show_cgroups()
    rootfs = tmp_path / "rootfs.tar"
    debootstrap = ["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs)]
    if network.startswith("ns:"):
        debootstrap = ["nsenter", f"--net={network[3:]}", *debootstrap]
    run(debootstrap)
    run([*podman, "import", str(rootfs), "localhost/portal-base:bookworm"])
    build = [*podman, "build", "--network", network, "--build-arg", "BASE=localhost/portal-base:bookworm"]
    if CA_BUNDLE.exists():  # pip in the build trusts what the host trusts
        build += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    run([*build, "-t", "localhost/portal:test", "-f", str(ROOT / "Containerfile"), str(ROOT)])
    version = run([*podman, "run", "--rm", "--network", "none", "localhost/portal:test", "--version"])
    assert version.stdout.strip().endswith(importlib.metadata.version("portal"))
    # the XRootD StatefulSet runs the same image
    xrootd = run([*podman, "run", "--rm", "--network", "none", "--entrypoint", "xrootd", "localhost/portal:test", "-v"])
    assert "v5" in (xrootd.stdout + xrootd.stderr)
    # CITATION.cff of git releases is read with cffconvert, installed --no-deps (its jsonschema<4 pin is wrong)
    python = [*podman, "run", "--rm", "--network", "none", "--entrypoint", "/opt/portal/bin/python"]
    converted = run([*python, "localhost/portal:test", "-c", CFF_CHECK])
    assert converted.stdout.strip() == "Dimuon fitter"
