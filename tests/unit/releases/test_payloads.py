"""The providers' documented release payloads are read as they are sent."""

from __future__ import annotations

import json
from pathlib import Path

from portal.releases.payloads import match_url, parse

WEBHOOKS = Path(__file__).resolve().parents[2] / "data" / "webhooks"


def load(name: str) -> dict:
    return json.loads((WEBHOOKS / name).read_text())


def test_github_published_release():
    event = parse("github", "release", load("github-release-published.json"))
    assert event.publishes and event.tag == "0.0.1" and event.event == "release.published"
    assert "https://github.com/Codertocat/Hello-World" in event.repository_urls


def test_github_other_actions_and_events_do_not_publish():
    payload = load("github-release-published.json")
    payload["action"] = "created"
    assert not parse("github", "release", payload).publishes
    payload["action"], payload["release"]["draft"] = "published", True
    assert parse("github", "release", payload).why_not == "a draft release"
    push = parse("github", "push", {"ref": "refs/heads/main", "repository": {"html_url": "https://github.com/a/b"}})
    assert not push.publishes and "not a release event" in push.why_not


def test_gitlab_release_hook():
    event = parse("gitlab", "Release Hook", load("gitlab-release-create.json"))
    assert event.publishes and event.tag == "v1.1" and event.description == "v1.1 has been released"
    assert "https://example.com/gitlab-org/release-webhook-example.git" in event.repository_urls
    updated = {**load("gitlab-release-create.json"), "action": "update"}
    assert not parse("gitlab", "Release Hook", updated).publishes


def test_urls_match_in_their_canonical_form():
    assert match_url("https://GitHub.com/a/b.git/") == match_url("https://github.com/a/b")
    assert match_url("https://user:pw@github.com/a/b") == "https://github.com/a/b"
    assert match_url("http://127.0.0.1:8080/x.git") == "http://127.0.0.1:8080/x"
    assert match_url("https://github.com/a/b") != match_url("https://github.com/a/c")
