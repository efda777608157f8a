"""Logs: one line per event, JSON in production (``PORTAL_LOG_FORMAT=json``) with the request id of the
request that caused it, so a line in an aggregator leads back to the request (and the `X-Request-ID` the
client or proxy saw)."""

from __future__ import annotations

import logging
import sys

from flask import g, has_request_context

from portal.i18n import N_

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """Send the ``portal`` loggers (and Flask's app logger, which is ``portal.app``) to stderr in ``fmt``
    ("json" or "text"). Idempotent: a second call replaces the handler it installed."""
    if fmt not in ("json", "text"):
        from portal.errors import Invalid

        raise Invalid(N_("unknown log format {fmt!r}: use json or text"), fmt=fmt, field="PORTAL_LOG_FORMAT")
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("portal-ops")
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logger = logging.getLogger("portal")
    for old in [h for h in logger.handlers if h.get_name() == "portal-ops"]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
