"""citeproc-py's look-ups in a parsed CSL style, remembered per element instead of evaluated on every reference.

A record page's first visit formats three references, and citeproc-py spent most of each one searching the style's
XML tree: every macro a reference calls is found by an XPath over the whole style (`get_macro`), every term by an
XPath over the locale's terms, every child element by `find` (`__getattr__`), and whether a group "calls a variable"
is worked out again through all its macros for each child of each group it is in. The style's tree never changes
once parsed (citeproc-py keeps its formatting state in Python attributes, not in the XML), so each of these answers
is the same every time for one element: they are kept in the element's ``__dict__`` the first time they are asked.

lxml builds element objects (proxies) on demand and drops them when no Python reference is left, and with them
their ``__dict__``. So :func:`keep_elements` holds every element of a style and its locales for as long as the
style lives (cached bundled styles: the process), and the remembered answers with them. A style whose elements are
not kept still formats correctly: its answers are only remembered while its proxies happen to live.

The patch is applied once, to citeproc-py's classes (they are chosen by an lxml class lookup inside citeproc-py,
so there is no subclass to substitute). Answers and references are unchanged (tests/unit/test_citeproc_memo.py;
`benchmarks/citation_first_visit.py` dumps every reference of the demo catalogue and the corpus to compare).
Formatting stays one at a time per process (`portal.exports.csl._FORMATTING`): the remembered answers are only
written there.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citeproc import CitationStylesStyle

_PATCHED = False
_PATCH_LOCK = threading.Lock()


def keep_elements(style: CitationStylesStyle) -> CitationStylesStyle:
    """Hold every element of ``style`` and of its locales for as long as ``style`` lives, so that the answers
    remembered on them (see the module's docstring) stay with them; returns ``style``."""
    patch()
    root = style.root
    elements = list(root.iter())
    for locale in getattr(root, "locales", None) or []:
        elements.extend(locale.iter())
    style._portal_elements = elements
    return style


def patch() -> None:
    """Make citeproc-py remember its look-ups per element (once per process)."""
    global _PATCHED
    with _PATCH_LOCK:
        if _PATCHED:
            return
        from citeproc import model

        element = model.CitationStylesElement
        element.xpath_search = _remembered_xpath(element.xpath_search)
        element.get_root = _remembered(element.get_root, "_portal_root")
        model.SomewhatObjectifiedElement.__getattr__ = _remembered_child(model.SomewhatObjectifiedElement.__getattr__)
        # Whether an element calls a variable depends on its attributes, its children and the macros it names:
        # on the tree alone. (Group, Date, Names, Number and Label answer a constant and are left as they are.)
        model.Parent.calls_variable = _remembered(model.Parent.calls_variable, "_portal_calls")
        model.Text.calls_variable = _remembered(model.Text.calls_variable, "_portal_calls")
        _PATCHED = True


def _remembered(method: Callable[[Any], Any], key: str) -> Callable[[Any], Any]:
    @functools.wraps(method)
    def remembered(self: Any) -> Any:
        held = self.__dict__
        if key in held:
            return held[key]
        value = held[key] = method(self)
        return value

    return remembered


def _remembered_xpath(method: Callable[[Any, str], list[Any]]) -> Callable[[Any, str], list[Any]]:
    @functools.wraps(method)
    def xpath_search(self: Any, expression: str) -> list[Any]:
        held = self.__dict__.get("_portal_xpath")
        if held is None:
            held = self.__dict__["_portal_xpath"] = {}
        found = held.get(expression)
        if found is None:
            found = held[expression] = method(self, expression)
        return list(found)  # a copy: no caller can change what is remembered

    return xpath_search


def _remembered_child(method: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    missing = object()

    @functools.wraps(method)
    def __getattr__(self: Any, name: str) -> Any:  # noqa: N807 - it replaces citeproc-py's __getattr__
        if name.startswith("_portal_") or name.startswith("__"):  # our own keys, Python's protocols: as before
            return method(self, name)
        held = self.__dict__.get("_portal_child")
        if held is None:
            held = self.__dict__["_portal_child"] = {}
        found = held.get(name, missing)
        if found is missing:
            found = held[name] = method(self, name)
        return found

    return __getattr__


__all__ = ["keep_elements", "patch"]
