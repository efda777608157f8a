"""Where an environment comes from: a local analysis_envs/ name or an allow-listed git repository + ref."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from portal.errors import Invalid, NotFound
from portal.i18n import N_

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
REF_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


@dataclass(frozen=True)
class Source:
    repo_dir: Path
    commit: str  # "" for local directories: their content hash alone keys the build
    label: str


def local_env(name: str, root: Path) -> Source:
    """The environment directory ``root/name`` (``root``: the setting `envs_dir`); NotFound lists the known ones."""
    if not NAME_RE.match(name) or not (root / name).is_dir():
        known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) if root.is_dir() else "none"
        raise NotFound(N_("no analysis environment named {name!r}; known: {known}"), name=name, known=known)
    return Source(repo_dir=root / name, commit="", label=f"analysis_envs/{name}")


def check_git_url(url: str, allowed_hosts: list[str], allow_file: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        if not allow_file:
            raise Invalid(
                N_("file:// repositories are not allowed here (PORTAL_LAUNCH_ALLOW_FILE_URLS is off)"),
                field="repository",
            )
        return
    if parts.scheme != "https":
        raise Invalid(
            N_("repository URL must be https:// (got {scheme}://)"),
            scheme=parts.scheme or "no scheme",
            field="repository",
        )
    if (parts.hostname or "").lower() not in {h.lower() for h in allowed_hosts}:
        raise Invalid(
            N_("git host {parts_hostname!r} is not allowed; allowed hosts: {allowed_hosts} (PORTAL_LAUNCH_GIT_HOSTS)"),
            parts_hostname=parts.hostname,
            allowed_hosts=", ".join(allowed_hosts),
            field="repository",
        )


def git_checkout(url: str, ref: str, work_root: Path, *, allowed_hosts: list[str], allow_file: bool = False) -> Source:
    """Clone ``url`` at ``ref`` and resolve ref to its commit, which keys the build cache."""
    check_git_url(url, allowed_hosts, allow_file)
    if not REF_RE.match(ref) or ref.startswith("-") or ".." in ref:
        raise Invalid(N_("bad git ref {ref!r}"), ref=ref, field="ref")
    work_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="clone-", dir=work_root))
    env = {"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"}

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=tmp, capture_output=True, text=True, env=env, timeout=120)
        if proc.returncode != 0:
            raise Invalid(
                N_(
                    "git {args_0} failed for {url} at {ref}: {stderr}; check the repository URL and that the ref exists"
                ),
                args_0=args[0],
                url=url,
                ref=ref,
                stderr=proc.stderr.strip()[-300:],
                field="ref",
            )
        return proc.stdout.strip()

    try:
        git("init", "-q")
        git("fetch", "-q", "--depth", "1", "--", url, ref)
        commit = git("rev-parse", "FETCH_HEAD")
        git("checkout", "-q", commit)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = work_root / commit
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(final)
    return Source(repo_dir=final, commit=commit, label=f"{url}@{commit[:12]}")
