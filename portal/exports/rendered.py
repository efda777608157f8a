"""Formatted citations kept in the database per (record version, style): table rendered_citations (migration
perf17_0001).

citeproc-py takes ~50 ms per reference and a record page shows three, so a page formatted them in every web
worker (each has its own in-process cache) and again after every restart. Here a formatted text is stored with
the digest of the style and of the CSL-JSON item it came from: the item holds everything the text shows, so a
stored text is used only while the record version still gives the same item. An edit of the metadata (or of a
related DOI, or of the portal's base URL) gives another digest, and the text is formatted again and replaced.

Storing is best effort, in its own short transaction: a page that cannot store (a busy SQLite writer, two
workers storing the same text at once) still shows the text it formatted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Integer, String, Text, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.engine import Database
from portal.db.models import Base
from portal.exports import csl
from portal.exports.common import ExportRecord

log = logging.getLogger(__name__)


class RenderedCitation(Base):
    """The text of one record version in one bundled CSL style, and the digest of what it was formatted from
    (the style and the version's CSL-JSON item): a row whose digest differs from the version's current one is
    stale (the metadata, a related DOI or the portal's base URL changed) and is formatted again."""

    __tablename__ = "rendered_citations"

    recid: Mapped[int] = mapped_column(Integer, ForeignKey("records.recid", ondelete="CASCADE"), primary_key=True)
    style: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)


RENDERED = cast(sa.Table, RenderedCitation.__table__)


def digest_of(style: str, item_json: str) -> str:
    return hashlib.sha256(f"{style}\n{item_json}".encode()).hexdigest()


class RenderedCitations:
    """The bundled-style citations of record versions, formatted once per version and style."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def citations(self, rec: ExportRecord, styles: Sequence[str]) -> dict[str, str]:
        """The text of ``rec`` in each bundled CSL style of ``styles`` (apa, harvard, chicago), in that order:
        stored texts whose digest still matches, the others formatted now and stored."""
        for style in styles:
            csl.bundled_style(style)  # NotFound for an unknown style
        item_json = json.dumps(csl.csl_json(rec), sort_keys=True)
        digests = {style: digest_of(style, item_json) for style in styles}
        with self.db.reader() as s:
            stored = {
                style: (digest, text)
                for style, digest, text in s.execute(
                    select(RENDERED.c.style, RENDERED.c.digest, RENDERED.c.text).where(
                        RENDERED.c.recid == rec.recid, RENDERED.c.style.in_(styles)
                    )
                )
            }
        out: dict[str, str] = {}
        fresh: dict[str, str] = {}
        for style in styles:
            held = stored.get(style)
            if held is not None and held[0] == digests[style]:
                out[style] = held[1]
            else:
                out[style] = fresh[style] = csl.formatted(style, item_json)
        if fresh:
            self._store(rec.recid, {style: (digests[style], text) for style, text in fresh.items()})
        return out

    def _store(self, recid: int, texts: dict[str, tuple[str, str]]) -> None:
        try:
            with self.db.transaction() as s:
                s.execute(delete(RENDERED).where(RENDERED.c.recid == recid, RENDERED.c.style.in_(list(texts))))
                s.execute(
                    insert(RENDERED),
                    [
                        {"recid": recid, "style": style, "digest": digest, "text": text}
                        for style, (digest, text) in texts.items()
                    ],
                )
        except SQLAlchemyError:  # another worker stored it first, or the database is busy: shown anyway
            log.debug("storing the formatted citations of %s failed", recid, exc_info=True)


__all__ = ["RENDERED", "RenderedCitation", "RenderedCitations", "digest_of"]
