"""Markdown and record HTML are sanitised before they reach a page."""

from portal.catalog.markdown import render_markdown


def test_markdown_renders():
    html = render_markdown("Use **uproot**:\n\n```\nuproot.open(url)\n```")
    assert "<strong>uproot</strong>" in html and "<pre><code>" in html


def test_scripts_handlers_and_javascript_urls_are_removed():
    html = render_markdown(
        '<script>alert(1)</script><a href="javascript:alert(1)" onclick="x()">x</a>'
        '<img src="https://e.org/a.png" onerror="y()">'
    )
    assert "<script" not in html and "onclick" not in html and "javascript:" not in html
    assert "onerror" not in html and 'src="https://e.org/a.png"' in html
