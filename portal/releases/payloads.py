"""What a release webhook says, read from the providers' payload formats (GitHub's `release` event, GitLab's
`Release Hook`; a generic git server is expected to send GitHub's format, as Gitea and Forgejo do)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from portal.i18n import N_

PROVIDERS = ("github", "gitlab", "generic")


@dataclass(frozen=True)
class ReleaseEvent:
    """One delivery, as far as the portal cares. ``publishes`` is False for events that are not a published
    release (``why_not`` says what they were instead)."""

    event: str
    repository_urls: tuple[str, ...]
    tag: str | None
    name: str
    description: str
    publishes: bool
    #: a message id (``N_``), its values in ``why_values``: the refusal is shown in the reader's language
    why_not: str = ""
    why_values: dict[str, str] = field(default_factory=dict)


def match_url(url: str) -> str:
    """The form repositories are matched by: scheme and lower-case host kept, no credentials, no `.git`, no
    trailing slash (``https://GitHub.com/a/b.git/`` and ``https://github.com/a/b`` are the same repository)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path.rstrip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse(provider: str, event_header: str, payload: dict[str, Any]) -> ReleaseEvent:
    """Read a delivery's payload; raises ValueError when it is not the JSON object the provider sends."""
    if provider == "gitlab":
        return _gitlab(event_header, payload)
    return _github(event_header, payload)


def _github(event: str, payload: dict[str, Any]) -> ReleaseEvent:
    repo = payload.get("repository")
    urls = tuple(
        _text(repo.get(k)) for k in ("html_url", "clone_url", "url") if isinstance(repo, dict) and _text(repo.get(k))
    )
    release = payload.get("release")
    if event == "ping":
        return ReleaseEvent("ping", urls, None, "", "", False, N_("a ping (the webhook works); only releases publish"))
    if event != "release" or not isinstance(release, dict):
        not_release, kind = N_("not a release event ({event})"), {"event": event or "none"}
        return ReleaseEvent(event or "unknown", urls, None, "", "", False, not_release, kind)
    tag = _text(release.get("tag_name")) or None
    action = _text(payload.get("action"))
    name = _text(release.get("name")) or (tag or "")
    body = _text(release.get("body"))
    if action != "published":
        why = N_("release {action}, not published")
        return ReleaseEvent(f"release.{action}", urls, tag, name, body, False, why, {"action": action or "?"})
    if release.get("draft"):
        return ReleaseEvent("release.published", urls, tag, name, body, False, N_("a draft release"))
    return ReleaseEvent("release.published", urls, tag, name, body, True)


def _gitlab(event: str, payload: dict[str, Any]) -> ReleaseEvent:
    project = payload.get("project")
    urls = tuple(
        _text(project.get(k))
        for k in ("web_url", "git_http_url", "http_url")
        if isinstance(project, dict) and _text(project.get(k))
    )
    if payload.get("object_kind") != "release":
        kind = _text(payload.get("object_kind")) or event or "unknown"
        return ReleaseEvent(kind, urls, None, "", "", False, N_("not a release event ({event})"), {"event": kind})
    tag = _text(payload.get("tag")) or None
    action = _text(payload.get("action"))
    name = _text(payload.get("name")) or (tag or "")
    body = _text(payload.get("description"))
    if action != "create":
        why = N_("release {action}, not created")
        return ReleaseEvent(f"release.{action}", urls, tag, name, body, False, why, {"action": action or "?"})
    return ReleaseEvent("release.create", urls, tag, name, body, True)
