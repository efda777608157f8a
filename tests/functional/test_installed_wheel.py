"""The wheel, built and `pip install`ed into a fresh venv outside the checkout, gives a `portal` that lists the
lessons and environments, loads the demo records and serves them; it installs no top-level package but `portal`.

Nothing is downloaded: the wheel is built without build isolation (hatchling from the project's venv), installed
with `--no-deps --no-index`, and the fresh venv reaches the project's already installed dependencies through a
`.pth` file, which adds their directory to `sys.path` but not the checkout (the editable install's own `.pth` in
that directory is not processed), and to their data files through JUPYTER_PATH.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests

from portal.launch.hub import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def check(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(venv, a working directory outside the checkout, the environment to run `portal` in)."""
    top = tmp_path_factory.mktemp("installed")
    check([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", top / "dist", ROOT])
    (wheel,) = (top / "dist").glob("portal-*.whl")
    venv = top / "venv"
    check([sys.executable, "-m", "venv", venv])
    site = Path(
        check([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    (site / "_project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    check([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    work = top / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    # The reused dependencies' data files (nbconvert's templates) are under the project venv's prefix, where a full
    # install into the fresh venv would have put them under its own.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    return venv, work, env


def portal(installed: tuple[Path, Path, dict[str, str]], *args: str) -> str:
    venv, work, env = installed
    return check([venv / "bin" / "portal", *args], cwd=work, env=env).stdout


def test_only_the_portal_package_is_installed(installed):
    venv, work, env = installed
    site = Path(next((venv / "lib").glob("python3*/site-packages")))
    assert not (site / "datasets").exists()
    record = next(site.glob("portal-*.dist-info")).joinpath("RECORD").read_text()
    tops = {line.split(",")[0].split("/")[0] for line in record.splitlines()}
    assert {t for t in tops if not t.startswith("..")} == {"portal", next(site.glob("portal-*.dist-info")).name}
    where = check([venv / "bin" / "python", "-c", "import portal; print(portal.__file__)"], cwd=work, env=env)
    assert where.stdout.strip().startswith(str(site))  # the installed package, not the checkout


def test_help_lessons_and_environments_come_from_the_wheel(installed):
    venv = installed[0]
    assert "Open-data portal" in portal(installed, "--help")
    lessons = portal(installed, "education", "list")
    assert lessons.startswith("4 lesson(s) in ") and str(venv) in lessons.splitlines()[0]
    assert {"collision-events", "dimuon-spectrum", "z-mass-fit", "scaling-up"} <= {
        line.split()[0] for line in lessons.splitlines()[1:]
    }
    envs = portal(installed, "env", "list")
    assert envs.startswith("2 environment(s) in ") and str(venv) in envs.splitlines()[0]
    assert {line.split()[0] for line in envs.splitlines()[1:]} == {"education", "hep-analysis"}


def test_demo_records_load_and_are_served(installed):
    venv, work, env = installed
    settings = portal(installed, "settings")
    demo = re.search(r"^demo_records_dir = '(.+)'$", settings, re.M)
    assert demo is not None and demo.group(1).startswith(str(venv)), settings
    assert "8 created" in portal(installed, "records", "load", demo.group(1))
    assert "90021 created" in portal(installed, "education", "load")
    port = free_port()
    server = subprocess.Popen(
        [venv / "bin" / "portal", "serve", "--workers", "1", "--threads", "2"],
        cwd=work,
        env={**env, "PORTAL_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                home = requests.get(base + "/", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):  # listening before its worker has booted
                assert server.poll() is None and time.monotonic() < deadline, "portal serve did not answer"
                time.sleep(0.2)
        assert home.status_code == 200 and "Featured datasets" in home.text
        # the French catalogue, compiled into the wheel by its build hook (the checkout commits only the .po)
        french = requests.get(base + "/", headers={"Accept-Language": "fr"}, timeout=30)
        assert '<html lang="fr">' in french.text and "Jeux de données à la une" in french.text
        record = requests.get(base + "/record/90004", timeout=30)
        assert record.status_code == 200 and "10.5072/portal.90004" in record.text
        lesson = requests.get(base + "/education/collision-events/preview", timeout=60)
        assert lesson.status_code == 200  # the notebook shipped in the wheel, rendered
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
