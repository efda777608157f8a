"""The templates hold nothing the Content-Security-Policy refuses: no inline script, no inline style, no on*=
handler. Behaviour and looks live in `portal/web/static/` (the browser test checks real pages for violations)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import portal.web

TEMPLATES = sorted((Path(portal.web.__file__).parent / "templates").rglob("*.html"))

REFUSED = {
    # a <script> without src runs inline; a JSON-LD data block is not run, so CSP lets it be
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/ld\+json\")[^>]*>", re.I),
    "inline style attribute": re.compile(r"\sstyle\s*=", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
    "event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_there_are_templates():
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_has_nothing_the_policy_refuses(template):
    text = template.read_text()
    found = {what: m.group(0) for what, pattern in REFUSED.items() if (m := pattern.search(text))}
    assert not found, f"{template.name}: move these to portal/web/static/: {found}"


def test_the_patterns_catch_what_they_name():
    samples = {
        "inline script": "<script>alert(1)</script>",
        "inline style attribute": '<p style="color:red">',
        "style element": "<style>p{}</style>",
        "event handler attribute": '<button onclick="go()">',
        "javascript: URL": '<a href="javascript:go()">',
    }
    for what, sample in samples.items():
        assert REFUSED[what].search(sample), what
    assert not REFUSED["inline script"].search('<script src="/static/portal.js" defer></script>')
    assert not REFUSED["inline script"].search('<script type="application/ld+json">{}</script>')
