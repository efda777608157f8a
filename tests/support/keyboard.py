"""Moving through a page as a keyboard user does, in Playwright: Tab and Shift+Tab until a control has the focus,
and whether the focused control shows it (the portal's outline, not the browser's default that pages may hide)."""

from __future__ import annotations

from typing import Any


def tab_to(page: Any, selector: str, *, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (Shift+Tab when ``backwards``) until ``selector`` has the focus, failing after ``limit`` presses:
    a control never reached is one a keyboard user cannot use."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("sel => document.activeElement && document.activeElement.matches(sel)", selector):
            return
    focused = page.evaluate("() => document.activeElement && document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{key} never reached {selector} (the focus is on {focused})")


def focus_is_visible(page: Any) -> bool:
    """Whether the focused element draws the portal's focus outline (portal.css: 3px), at least 2px wide (WCAG's
    focus appearance): Chromium's own 1px ring, left on a control the stylesheet forgot, is hard to see."""
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2; }"""
    )


def focused(page: Any) -> str:
    """The focused element's id (empty when it has none)."""
    return str(page.evaluate("() => document.activeElement ? document.activeElement.id : ''"))


def tab_round(page: Any, *, limit: int = 200) -> list[str]:
    """Tab from the top of the page through every control until the focus comes round again, and return the
    controls whose focus is not visible (each as the start of its HTML). Fails when the focus stays stuck on one
    control (a keyboard trap) or the round does not end within ``limit`` presses."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    seen: list[int] = []
    hidden: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        mark = page.evaluate(
            """() => { const e = document.activeElement;
                       if (!e || e === document.body) return -1;
                       const n = document.querySelectorAll("[data-tab-round]").length;
                       if (!e.dataset.tabRound) e.dataset.tabRound = String(n + 1);
                       return parseInt(e.dataset.tabRound, 10); }"""
        )
        if mark == -1 or (seen and mark == seen[0]):
            return hidden  # past the last control (to the browser's own UI) or round to the first
        assert not seen or mark != seen[-1], f"the focus is stuck on control {mark}: a keyboard trap"
        if mark in seen:
            return hidden
        seen.append(mark)
        if not focus_is_visible(page):
            hidden.append(page.evaluate("() => document.activeElement.outerHTML.slice(0, 100)"))
    raise AssertionError(f"Tab went through {limit} controls without coming round: a trap or a runaway page")
