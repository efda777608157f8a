"""Tables of the search index, mapped on the catalogue's ``Base`` (migrations 0012, 0013, 0013b, 0013c).

Only the columns every database has are mapped. The full-text part is the text backend's own and is written
and read with SQL of its dialect: the FTS5 table ``search_fts`` on SQLite; on PostgreSQL the vector columns
of ``search_documents`` (``tsv``, ``tsv_title``, ``tsv_authors``, ``tsv_keywords``, ``fields``) and the
narrow table ``search_text`` (recid, tsv, pairs).
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base


class IndexedDocument(Base):
    """One published record version as the search sees it: sort keys and the columns that ranges select on."""

    __tablename__ = "search_documents"

    recid: Mapped[int] = mapped_column(Integer, ForeignKey("records.recid", ondelete="CASCADE"), primary_key=True)
    concept_recid: Mapped[int] = mapped_column(Integer, index=True)
    # True for the latest published version of its concept: searches show only those unless all_versions.
    is_latest: Mapped[bool] = mapped_column(Boolean)
    title: Mapped[str] = mapped_column(Text)
    title_sort: Mapped[str] = mapped_column(Text)  # lower-cased title, at most 500 characters
    doi: Mapped[str | None] = mapped_column(String(255))  # lower-cased
    date_published: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD (or a prefix of it)
    year: Mapped[int | None] = mapped_column(Integer)  # the first data-taking year (else the publication year)
    number_events: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_search_documents_latest_date", "is_latest", "date_published", "recid"),
        Index("ix_search_documents_title", "is_latest", "title_sort", "recid"),
    )


class IndexedFacet(Base):
    """One value of one facet of a document (facets are multi-valued); facet "related" holds related recids."""

    __tablename__ = "search_facets"

    recid: Mapped[int] = mapped_column(
        Integer, ForeignKey("search_documents.recid", ondelete="CASCADE"), primary_key=True
    )
    facet: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)

    __table_args__ = (Index("ix_search_facets_value", "facet", "value", "recid"),)


class IndexState(Base):
    """The index generation (one row, id 1): bumped in every transaction that changes the index, so each process
    knows when its in-memory view of the index is stale."""

    __tablename__ = "search_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


# The search writes and reads its tables with Core statements (bulk inserts, set-based updates and deletes):
# these are the tables themselves, for those statements.
DOCS = cast(sa.Table, IndexedDocument.__table__)
FACET_ROWS = cast(sa.Table, IndexedFacet.__table__)
STATE = cast(sa.Table, IndexState.__table__)
