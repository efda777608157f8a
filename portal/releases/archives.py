"""A release's archive and citation files, fetched from the connected repository (never from URLs in a payload):
a shallow fetch of the tag over HTTP(S), `git archive` of it streamed to disk with a size bound and checksummed
on the way, and `CITATION.cff` / `.zenodo.json` read at that tag."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from portal.i18n import N_
from portal.releases.outcomes import Failed, Refused

TAG_RE = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9._+/-]{0,199}$")
METADATA_MAX = 1024 * 1024  # a CITATION.cff or .zenodo.json larger than this is not metadata
GIT_TIMEOUT = 300
BLOCK = 1024 * 1024
CLONE_FACTOR = 4  # a fetch may take this many times the archive bound (history, uncompressed loose objects)


@dataclass(frozen=True)
class Archive:
    """The release archive written at ``path``: its size (bytes), checksums, the tagged commit, and the citation
    files found at the tag (their text, or None)."""

    path: Path
    size: int
    sha256: str
    adler32: str
    commit: str
    citation_cff: str | None
    zenodo_json: str | None


def check_host(url: str, allowed_hosts: list[str], *, allow_http: bool) -> None:
    """Refuse a repository URL whose scheme or host the site does not allow (``releases_git_hosts``)."""
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in schemes:
        raise Refused(
            N_("repository URL must start with {schemes} (it starts with {given})"),
            schemes=", ".join(f"{s}://" for s in sorted(schemes)),
            given=f"{parts.scheme}://" if parts.scheme else repr(url[:20]),
            field="url",
        )
    if parts.username or parts.password:
        raise Refused(N_("repository URL must not carry credentials"), field="url")
    host = (parts.hostname or "").lower()
    if host not in {h.lower() for h in allowed_hosts}:
        raise Refused(
            N_(
                "disallowed host: {host!r} is not among the git hosts this portal fetches from ({hosts}; "
                "PORTAL_RELEASES_GIT_HOSTS)"
            ),
            host=host,
            hosts=", ".join(allowed_hosts) or "-",
            field="url",
        )


def fetch_release(url: str, tag: str, dest: Path, *, work_root: Path, max_bytes: int, prefix: str) -> Archive:
    """Fetch ``tag`` of ``url`` and write its archive (tar.gz, entries under ``prefix/``) to ``dest``.

    Raises:
        Refused: a bad tag name, a tag the repository does not have (missing archive), an archive over
            ``max_bytes``.
        Failed: the git server could not be reached or answered an error (a retry may work).
    """
    if not TAG_RE.match(tag) or ".." in tag or tag.endswith((".lock", "/")):
        raise Refused(N_("bad tag name {tag!r}"), tag=tag, field="tag")
    work_root.mkdir(parents=True, exist_ok=True)
    repo = Path(tempfile.mkdtemp(prefix="release-", dir=work_root))
    try:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(repo),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_DIR": str(repo),
        }
        # only the web transports: a payload never gets git to run ext:: helpers or read local paths
        base = [
            "git",
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.https.allow=always",
            "-c",
            "protocol.http.allow=always",
        ]

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT)

        git("init", "-q", "--bare")
        refspec = f"refs/tags/{tag}:refs/tags/{tag}"
        # what a fetch may write: the archive's bound, with room for history (a dumb server sends all of it)
        clone_limit = CLONE_FACTOR * max_bytes

        def fetch(*extra: str) -> subprocess.CompletedProcess[str]:
            return _bounded([*base, "fetch", "-q", "--no-tags", *extra, "--", url, refspec], env, repo, clone_limit)

        fetched = fetch("--depth", "1")
        if fetched.returncode != 0 and "shallow" in fetched.stderr:
            # git's "dumb" HTTP transport (static file servers) cannot fetch shallow: fetch the tag's history
            fetched = fetch()
        if fetched.returncode != 0:
            err = fetched.stderr.strip()
            if "couldn't find remote ref" in err or "not our ref" in err:
                raise Refused(N_("missing archive: the repository has no tag {tag!r}"), tag=tag, field="tag")
            raise Failed(N_("git fetch of {url} failed: {reason}"), url=url, reason=err[-300:], field="url")
        commit = git("rev-parse", f"refs/tags/{tag}^{{commit}}").stdout.strip()
        citation = _read_at(git, commit, "CITATION.cff")
        zenodo = _read_at(git, commit, ".zenodo.json")
        size, sha256, adler = _archive(base, env, commit, dest, max_bytes, prefix)
        return Archive(dest, size, sha256, adler, commit, citation, zenodo)
    except subprocess.TimeoutExpired as exc:
        slow = N_("git took longer than {seconds} s for {url}")
        raise Failed(slow, seconds=GIT_TIMEOUT, url=url, field="url") from exc
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def _bounded(args: list[str], env: dict[str, str], repo: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """Run a git fetch into ``repo``, stopping it (Refused) once the repository grows past ``limit`` bytes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        deadline = time.monotonic() + GIT_TIMEOUT
        try:
            while True:
                done = proc.poll() is not None
                if _size(repo) > limit:
                    raise Refused(
                        N_(
                            "the repository is larger than {limit} bytes to fetch (PORTAL_RELEASES_MAX_ARCHIVE_BYTES x "
                            "{factor})"
                        ),
                        limit=limit,
                        factor=CLONE_FACTOR,
                        field="archive",
                    )
                if done:
                    break
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(args, GIT_TIMEOUT)
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            args, proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


def _size(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # git renames its temporary files as it goes
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _read_at(git: Callable[..., subprocess.CompletedProcess[str]], commit: str, name: str) -> str | None:
    size = git("cat-file", "-s", f"{commit}:{name}")
    if size.returncode != 0:
        return None
    if int(size.stdout.strip() or 0) > METADATA_MAX:
        raise Refused(N_("{name} is larger than {limit} bytes"), name=name, limit=METADATA_MAX, field=name)
    shown = git("show", f"{commit}:{name}")
    return shown.stdout if shown.returncode == 0 else None


def _archive(
    base: list[str], env: dict[str, str], commit: str, dest: Path, max_bytes: int, prefix: str
) -> tuple[int, str, str]:
    """Stream `git archive` into ``dest`` (through a temporary name: a reader never sees half an archive)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    proc = subprocess.Popen(
        [*base, "archive", "--format=tar.gz", f"--prefix={prefix}/", commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    sha, adler, size = hashlib.sha256(), 1, 0
    try:
        with open(partial, "wb") as out:
            while chunk := proc.stdout.read(BLOCK):
                size += len(chunk)
                if size > max_bytes:
                    raise Refused(
                        N_("the release archive is larger than {limit} bytes (PORTAL_RELEASES_MAX_ARCHIVE_BYTES)"),
                        limit=max_bytes,
                        field="archive",
                    )
                sha.update(chunk)
                adler = zlib.adler32(chunk, adler)
                out.write(chunk)
        if proc.wait(timeout=GIT_TIMEOUT) != 0:
            said = proc.stderr.read().decode(errors="replace") if proc.stderr is not None else ""
            raise Failed(N_("git archive failed: {reason}"), reason=said[-300:], field="archive")
        os.replace(partial, dest)
    except BaseException:
        proc.kill()
        proc.wait()
        partial.unlink(missing_ok=True)
        raise
    finally:
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    return size, sha.hexdigest(), f"adler32:{adler & 0xFFFFFFFF:08x}"
