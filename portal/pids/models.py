"""The pending-registration table: every DOI the portal must register with an outside registry, and how far it
got (so a failure is retried and shown, never lost)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, utcnow


class PIDRegistration(Base):
    """One DOI of a version (``kind`` "version", ``recid`` the version) or of a concept (``kind`` "concept",
    ``recid`` the concept). ``state`` is "pending" (to send at ``next_attempt_at``), "registered" (the registry has
    the latest metadata) or "rejected" (the registry refused the metadata: ``error_field`` names what; it is sent
    again when the record changes or someone asks)."""

    __tablename__ = "pid_registrations"

    doi: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    recid: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_field: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)  # where the DOI resolves, as last registered
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_pid_registrations_state_next", "state", "next_attempt_at"),)
