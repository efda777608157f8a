"""The table of external works that cite a record (by concept: a citation counts for every version)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, BigIntPK, utcnow


class RecordCitation(Base):
    """An external work (``scheme``: doi, arxiv or inspire; ``identifier`` normalised) related to the record
    ``concept_recid`` by ``relation`` (isCitedBy, isReferencedBy, isSupplementTo). ``source`` says where it came
    from: "user" (added by ``added_by``) or "scholix" (a link file)."""

    __tablename__ = "record_citations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    concept_recid: Mapped[int] = mapped_column(Integer, ForeignKey("concepts.recid", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(32))
    scheme: Mapped[str] = mapped_column(String(16))
    identifier: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("concept_recid", "relation", "scheme", "identifier", name="uq_record_citations_work"),
    )
