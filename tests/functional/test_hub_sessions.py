"""Sessions of their own, on a real JupyterHub that signs people in through the portal: each person's servers
run as their own unprivileged system user, which cannot read the portal's database, secrets or anyone else's
home; anonymous visitors launch as short-lived anonymous hub users when the setting allows it.

Needs root (useradd); the system users it creates carry a per-run prefix and are removed at the end."""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask

from portal.app import create_app
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record
from portal.identity.principal import COMMAND_LINE
from portal.identity.users import UserInfo
from portal.launch.hub import Hub, closed_to_others, free_port
from portal.launch.jupyterhub import sessions_dir
from portal.settings import load_settings
from portal.stack import ensure_secrets, protect_var_dir
from tests.functional.test_launch import BROWSER_UA
from tests.support.app import start_worker
from tests.support.jupyter import run_code
from tests.support.live import live_server

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None, reason="system users per hub user need root and useradd"
)

LESSON = "collision-events"


@dataclass
class Stack:
    app: Flask
    hub: Hub
    url: str
    var: Path
    prefix: str


def session_cookie(app: Flask, user: UserInfo) -> str:
    """The portal's signed session cookie of ``user`` signed in (what the sign-in page sets)."""
    return app.session_interface.get_signing_serializer(app).dumps(  # type: ignore[attr-defined]
        {"uid": user.id, "sv": user.session_version, "_permanent": True}
    )


def browser(app: Flask | None = None, user: UserInfo | None = None) -> requests.Session:
    web = requests.Session()
    web.headers["User-Agent"] = BROWSER_UA
    if app is not None and user is not None:
        web.cookies.set("session", session_cookie(app, user), domain="127.0.0.1")
    return web


def launch(web: requests.Session, base: str, slug: str = LESSON) -> dict[str, object]:
    """Launch ``slug`` as the person behind ``web``, reading the event stream as the launch page does."""
    assert web.get(f"{base}/launch/lesson/{slug}", timeout=30).status_code == 200
    events = []
    with web.get(f"{base}/launch/lesson/{slug}/events", stream=True, timeout=180) as resp:
        assert resp.status_code == 200, resp.text
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["phase"] in ("ready", "failed"):
                    break
    assert events[-1]["phase"] == "ready", events[-2:]
    return events[-1]


def owner(server_url: str) -> str:
    return server_url.rstrip("/").split("/")[-2]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not under pytest's basetemp (0700, root's): the session users must be able to reach their homes in var/.
    root = Path(tempfile.mkdtemp(prefix="portal-hub-", dir="/var/tmp"))
    root.chmod(0o711)
    prefix = f"t{secrets.token_hex(2)}-"  # this run's system users, apart from any other run's
    port = free_port()
    var = root / "var"
    settings = ensure_secrets(
        load_settings(
            {
                "var_dir": str(var),
                "data_dir": str(root / "data"),
                "base_url": f"http://127.0.0.1:{port}",
                "launch_user_prefix": prefix,
                "stats_enabled": False,
            },
            environ={},
        )
    )
    generate("tiny", root / "data" / "cms-dimuon-demo", formats=("csv",))
    (root / "data").chmod(0o755)
    hub = Hub(
        var / "jupyterhub",
        portal_url=settings.base_url,
        client_id=settings.launch_hub_client_id,
        client_secret=settings.launch_hub_client_secret,
        system_users=True,
        homes=sessions_dir(settings),
        idle_timeout=3600,  # the culler runs as a hub service (culling itself is its own, tested upstream)
    )
    # The session users run the portal's interpreter: on a machine where it lives in a closed home (pyenv under
    # /root), they may pass through (not list) that directory for the duration of the test.
    blocked = closed_to_others(Path(sys.executable))
    blocked_mode = blocked.stat().st_mode if blocked is not None else 0
    made: list[str] = []
    try:
        if blocked is not None:
            blocked.chmod(blocked_mode | 0o001)
        hub.start()
        app = create_app(settings.with_overrides(launch_hub_url=hub.url, launch_hub_token=hub.token))
        start_worker(app)  # environment builds are queue jobs: a worker runs them
        svc = app.extensions["portal"]
        svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
        svc.catalog.load([lesson_record(svc.lessons.find(LESSON))])
        protect_var_dir(settings)  # as `portal stack` does once the database exists
        with live_server(app, port) as url:
            yield Stack(app, hub, url, var, prefix)
    finally:
        hub.stop()
        if blocked is not None:
            blocked.chmod(blocked_mode & 0o7777)
        if (var / "jupyterhub" / "jupyterhub.log").exists():  # kept for a failure's post-mortem
            shutil.copy(var / "jupyterhub" / "jupyterhub.log", Path(tempfile.gettempdir()) / "portal-hub-test.log")
        made = [e.pw_name for e in pwd.getpwall() if e.pw_name.startswith((prefix, "anon-")) and "portal" in e.pw_gecos]
        for name in made:
            if name.startswith(prefix) or Path(pwd.getpwnam(name).pw_dir).is_relative_to(root):
                subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


PROBE = """
import json, os
def attempt(path, action):
    try:
        action(path)
        return "allowed"
    except PermissionError:
        return "denied"
    except OSError as exc:
        return type(exc).__name__
targets = json.loads({targets!r})
read = lambda p: open(p, "rb").read(1)
print(json.dumps({{
    "uid": os.getuid(),
    "home": os.path.expanduser("~"),
    **{{name: attempt(path, read) for name, path in targets["read"].items()}},
    **{{name: attempt(path, os.listdir) for name, path in targets["list"].items()}},
    "own home": attempt(os.path.expanduser("~"), os.listdir),
}}))
"""


def test_two_people_get_their_own_hub_users_and_system_users(stack: Stack) -> None:
    svc = stack.app.extensions["portal"]
    alice = svc.users.create(COMMAND_LINE, "alice", password="correct horse battery")
    bob = svc.users.create(COMMAND_LINE, "bob", password="correct horse battery")
    as_alice, as_bob = browser(stack.app, alice), browser(stack.app, bob)

    ready = {"alice": launch(as_alice, stack.url), "bob": launch(as_bob, stack.url)}
    servers = {who: str(event["server_url"]) for who, event in ready.items()}
    # the same lesson: the same named server, but each person's own hub user
    assert owner(servers["alice"]) == f"{stack.prefix}{alice.id}" and owner(servers["bob"]) == f"{stack.prefix}{bob.id}"
    assert servers["alice"].split("/")[-2] == servers["bob"].split("/")[-2]

    homes = sessions_dir(svc.settings)
    var = stack.var
    bob_home = homes / owner(servers["bob"])
    targets = {
        "read": {
            "portal database": str(var / "portal.sqlite"),
            "secret key": str(var / "secret_key"),
            "hub client secret": str(var / "hub-oauth-client.json"),
            "hub database": str(var / "jupyterhub" / "jupyterhub.sqlite"),
            "bob's notebook": str(next(bob_home.glob("*/notebook.ipynb"))),
        },
        "list": {"bob's home": str(bob_home), "portal var": str(var), "sessions": str(homes)},
    }
    seen = {}
    for who, url in servers.items():
        out = run_code(url, stack.hub.token, PROBE.format(targets=json.dumps(targets))).strip().splitlines()[-1]
        seen[who] = json.loads(out)
    system = {who: pwd.getpwnam(owner(url)) for who, url in servers.items()}
    # two different, unprivileged system users, each in their own 0700 home
    assert seen["alice"]["uid"] == system["alice"].pw_uid != seen["bob"]["uid"] == system["bob"].pw_uid
    assert 0 not in (seen["alice"]["uid"], seen["bob"]["uid"])
    assert seen["alice"]["home"] == str(homes / owner(servers["alice"]))
    assert (bob_home.stat().st_mode & 0o777) == 0o700 and bob_home.stat().st_uid == system["bob"].pw_uid
    # alice's code reads none of the portal's secrets, nor bob's work; her own home she can
    assert {k: v for k, v in seen["alice"].items() if k not in ("uid", "home")} == {
        "portal database": "denied",
        "secret key": "denied",
        "hub client secret": "denied",
        "hub database": "denied",
        "bob's notebook": "denied",
        "bob's home": "denied",
        "portal var": "denied",
        "sessions": "denied",
        "own home": "allowed",
    }
    assert seen["bob"]["bob's notebook"] == "allowed"  # the probe itself can read what is one's own

    # in a browser, the hub signs alice in through the portal and opens her server; bob's stays closed to her
    lab = as_alice.get(str(ready["alice"]["url"]), timeout=60)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, (lab.url, lab.status_code)
    assert as_alice.get(servers["bob"] + "lab", timeout=60).status_code == 403
    # someone signed in to nothing is sent to the portal's sign-in page
    stranger = browser().get(servers["alice"] + "lab", timeout=60, allow_redirects=True)
    assert "/signin?next=" in stranger.url


def test_anonymous_visitors_launch_as_their_own_anonymous_system_user(stack: Stack) -> None:
    visitor = browser()
    event = launch(visitor, stack.url)
    server = str(event["server_url"])
    name = owner(server)
    assert re.fullmatch(r"anon-[0-9a-f]{12}", name), server
    assert launch(visitor, stack.url)["server_url"] == server  # the same visitor keeps their session
    out = run_code(server, stack.hub.token, "import os; print(os.getuid())").strip()
    assert int(out) == pwd.getpwnam(name).pw_uid != 0
    # the hub signs the visitor in through the portal as that anonymous user, and opens their notebook
    lab = visitor.get(str(event["url"]), timeout=60)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, lab.url
    # culled (here: through the hub's API as the idle culler does, server first, then the hub user): the system
    # user and its home go too
    stack.app.extensions["portal"].launches.launcher.stop(name, server.rstrip("/").split("/")[-1])
    home = Path(pwd.getpwnam(name).pw_dir)
    gone = requests.delete(f"{stack.hub.api}/users/{name}", headers=stack.hub.headers, timeout=60)
    assert gone.status_code == 204, gone.text
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    assert not home.exists()
    log = (stack.var / "jupyterhub" / "jupyterhub.log").read_text()
    assert "Starting managed service idle-culler" in log and "Service idle-culler exited" not in log, log[-2000:]


def test_idle_anonymous_sessions_are_culled_with_their_system_user(stack: Stack) -> None:
    # A hub of its own whose culler wakes every 5 s and culls after 10 s idle (the stack's waits an hour).
    settings = stack.app.extensions["portal"].settings
    quick = Hub(
        stack.var / "jupyterhub-quick",
        system_users=True,
        homes=sessions_dir(settings),
        idle_timeout=10,
    ).start()
    try:
        app = create_app(settings.with_overrides(launch_hub_url=quick.url, launch_hub_token=quick.token))
        start_worker(app)  # environment builds are queue jobs: a worker runs them
        with live_server(app) as url:
            visitor = browser()
            assert visitor.get(f"{url}/launch/env/education", timeout=30).status_code == 200
            with visitor.get(f"{url}/launch/env/education/events", stream=True, timeout=180) as resp:
                events = [json.loads(line[6:]) for line in resp.iter_lines(decode_unicode=True) if line[:6] == "data: "]
            assert events[-1]["phase"] == "ready", events[-2:]
            name = owner(str(events[-1]["server_url"]))
            assert pwd.getpwnam(name).pw_uid != 0
            deadline = time.monotonic() + 150  # culled after 10 s idle, the user on a later round: seconds if quiet
            while time.monotonic() < deadline:
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    break
                time.sleep(1)
            else:
                model = requests.get(f"{quick.api}/users/{name}", headers=quick.headers, timeout=30).text
                log = [
                    x
                    for x in (stack.var / "jupyterhub-quick" / "jupyterhub.log").read_text().splitlines()
                    if ("cull" in x.lower() or name in x or "System user" in x) and "GET /hub/api" not in x
                ]
                raise AssertionError(f"{name} was not culled within 150 s: {model}\n" + "\n".join(log[-40:]))
            # the hub removes the system user (its authenticator's delete_user) just before the hub user's row
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                users = requests.get(f"{quick.api}/users", headers=quick.headers, timeout=30).json()
                if name not in [u["name"] for u in users]:
                    break
                time.sleep(0.5)
            assert name not in [u["name"] for u in users]  # culled: the hub user is gone with its system user
            assert f"Removed system user {name}" in (stack.var / "jupyterhub-quick" / "jupyterhub.log").read_text()
    finally:
        quick.stop()
