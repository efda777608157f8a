"""Optional parts of the portal, installed as pip extras: whether one is present, and the error naming it.

The core (catalogue, web pages and API, ingest, previews, exports, lessons) needs no extra. Analyses need
`processing` (Dask, hist); building and launching environments needs `launch` (repo2docker, JupyterHub,
JupyterLab, the proxy). Presence is checked with ``importlib.util.find_spec``, which imports nothing.
"""

from __future__ import annotations

import importlib.util

from portal.errors import Translate, Unavailable
from portal.i18n import N_

# extra -> the top-level modules the portal itself imports from it
EXTRAS: dict[str, tuple[str, ...]] = {
    "processing": ("dask", "distributed", "hist"),
    "launch": (
        "repo2docker",
        "jupyterhub",
        "jupyterlab",
        "configurable_http_proxy",
        "oauthenticator",
        "jupyterhub_idle_culler",
    ),
}


class MissingExtra(Unavailable):
    """``what`` needs the extra ``extra``, which is not installed: HTTP 503 on the web, exit status 1 in the CLI,
    and in both a message saying what to install (never an ImportError)."""

    def __init__(self, extra: str, what: str, missing: list[str]) -> None:
        self.extra = extra
        super().__init__(
            N_(
                "{what} needs the optional `{extra}` part of the portal, which is not installed (missing: "
                "{missing}); install it with: pip install 'portal[{extra}]'"
            ),
            what=what,
            extra=extra,
            missing=", ".join(missing),
        )

    def localized_detail(self, translate: Translate) -> str:
        # ``what`` names the feature, as a message id where the web asks (N_("analysis jobs")): translated too
        params = {**self.params, "what": translate(str(self.params["what"]))}
        return translate(self.template).format(**params)


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` (a key of :data:`EXTRAS`) that cannot be imported here."""
    absent = []
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken installation counts as absent
            found = False
        if not found:
            absent.append(module)
    return absent


def available(extra: str) -> bool:
    """Whether every module of ``extra`` is installed."""
    return not missing(extra)


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` when part of it is not installed; ``what`` names the feature."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(extra, what, absent)
