"""The deposit's own table: files declared on a draft and their bytes in the upload store (migration
deposit_0019). A row here is bookkeeping of an upload in progress, never a catalogue file: the catalogue's file
row is written only when the draft is published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, utcnow


class Upload(Base):
    __tablename__ = "deposit_uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # also the tus upload id and the store's id
    recid: Mapped[int] = mapped_column(ForeignKey("records.recid", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # "pending" | "completed"
    length: Mapped[int | None] = mapped_column(BigInteger)  # declared size (tus Upload-Length), when known
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    adler32: Mapped[int] = mapped_column(BigInteger, default=1)  # running value up to `received` (for resumes)
    sha256: Mapped[str | None] = mapped_column(String(64))  # set when completed
    md5: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    __table_args__ = (
        UniqueConstraint("recid", "key", name="uq_deposit_uploads_recid_key"),
        Index("ix_deposit_uploads_owner", "owner_id"),
    )
