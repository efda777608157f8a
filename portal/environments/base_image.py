"""The base image every podman-built environment starts from, made without any image registry: a Debian root
filesystem from Debian's own packages (mmdebstrap), imported into podman, then an unprivileged user ``jovyan``
(uid 1000, as in repo2docker's images) owning a venv at /opt/env that holds the Jupyter server stack at the
portal's own versions (the hub and the servers it starts must speak the same protocol), installed offline from the
portal's wheelhouse."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from portal.environments.engine import Podman

SUITE = "bookworm"
PYTHON = "3.11"  # what Debian bookworm's python3 gives; runtime.txt may ask for this one only
PYTHON_RELEASE = "3.11.2"  # its exact release: wheels are chosen for it (some need a later patch level)
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini")
# the server side of a session; ipykernel so an environment that lists no kernel still has one
SERVER_PACKAGES = ("jupyterhub", "jupyterlab", "ipykernel")
ROOTFS_IMAGE = f"localhost/portal-env-rootfs:{SUITE}"
VENV = "/opt/env"
USER, UID = "jovyan", 1000


class BaseImageFailed(RuntimeError):
    """The base image could not be made; the message says what failed."""


def server_requirements() -> list[str]:
    """The Jupyter server packages pinned to the versions the portal runs."""
    return [f"{name}=={metadata.version(name)}" for name in SERVER_PACKAGES]


def containerfile() -> str:
    reqs = " ".join(server_requirements())
    return f"""\
FROM {ROOTFS_IMAGE}
ENV LANG=C.UTF-8 \\
    VIRTUAL_ENV={VENV} \\
    PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid {UID} --user-group --shell /bin/bash {USER} \\
 && python3 -m venv {VENV} && chown -R {UID}:{UID} {VENV}
USER {USER}
WORKDIR /home/{USER}
ENV HOME=/home/{USER} USER={USER}
RUN pip install --no-cache-dir --no-index --find-links /wheelhouse {reqs}
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["jupyterhub-singleuser"]
"""


def base_tag() -> str:
    """The base image's reference: named by what goes into it, so a new Jupyter pin makes a new base."""
    digest = hashlib.sha256(f"{SUITE}:{','.join(DEBIAN_PACKAGES)}:{containerfile()}".encode()).hexdigest()
    return f"localhost/portal-env-base:{digest[:16]}"


def ensure_base_image(podman: Podman, wheelhouse: Path, network: str) -> Iterator[str]:
    """Makes the base image unless the store has it; yields progress lines. ``network`` is podman's build network
    (``host`` or ``ns:<path>``); mmdebstrap reaches Debian's mirror in the same network namespace."""
    tag = base_tag()
    if podman.image(tag) is not None:
        return
    # Builds of different specs (several workers, a fresh store) would each make the base and re-point its tag
    # under images already built on the other one: the first to hold the lock makes it, the others find it made.
    podman.root_dir.mkdir(parents=True, exist_ok=True)
    with open(podman.root_dir / "base-image.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if podman.image(tag) is None:
                yield from _make_base_image(podman, wheelhouse, network, tag)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _make_base_image(podman: Podman, wheelhouse: Path, network: str, tag: str) -> Iterator[str]:
    if podman.image(ROOTFS_IMAGE) is None:
        yield f"making the Debian {SUITE} root filesystem with mmdebstrap (once per machine)"
        with tempfile.TemporaryDirectory(dir=podman.root_dir) as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            argv = ["mmdebstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}", SUITE, str(rootfs)]
            if network.startswith("ns:"):
                argv = ["nsenter", f"--net={network[3:]}", *argv]
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise BaseImageFailed(f"mmdebstrap failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
            podman.run("import", str(rootfs), ROOTFS_IMAGE)
    yield f"building the base image {tag} (jovyan, {VENV}, {', '.join(server_requirements())})"
    with tempfile.TemporaryDirectory(dir=podman.root_dir) as tmp:
        (Path(tmp) / "Containerfile").write_text(containerfile())
        tail: list[str] = []
        for line in podman.stream(
            "build",
            "--network",
            network,
            "--volume",
            f"{wheelhouse}:/wheelhouse:ro",
            "-t",
            tag,
            "-f",
            str(Path(tmp) / "Containerfile"),
            tmp,
        ):
            tail = [*tail[-30:], line]
        if tail[-1] != "exit 0":
            raise BaseImageFailed("building the base image failed:\n" + "\n".join(tail))
