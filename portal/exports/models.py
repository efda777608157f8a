"""OAI-PMH set membership rows (one per record version and set)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base


class OAISet(Base):
    __tablename__ = "oai_sets"

    recid: Mapped[int] = mapped_column(Integer, ForeignKey("records.recid", ondelete="CASCADE"), primary_key=True)
    spec: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_oai_sets_spec", "spec", "recid"),)
