"""Tables of connected repositories and of the webhook deliveries they receive (migration releases_0001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, BigIntPK, JSONType, utcnow


class ConnectedRepository(Base):
    """A git repository whose published releases become versions of the software record ``recid`` (None until the
    first release creates it). ``secret_salt`` derives the webhook secret with the site's secret key; the secret
    itself is never stored (see :mod:`portal.releases.signatures`)."""

    __tablename__ = "release_repositories"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    #: the URL in the canonical form deliveries are matched by (lower-case host, no `.git`, no trailing slash)
    match_url: Mapped[str] = mapped_column(String(512), unique=True)
    recid: Mapped[int | None] = mapped_column(Integer)
    secret_salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReleaseDelivery(Base):
    """One webhook delivery and what became of it: ``outcome`` is `pending`, `created`, `refused` or `failed`
    (a failed one may be retried); ``reason`` and ``field`` say why it was refused or failed. ``payload`` is kept
    so that a retry processes the same release."""

    __tablename__ = "release_deliveries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("release_repositories.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    delivery_key: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    #: ``reason`` as a message id and values (swdemo_0002), shown in the reader's language; None: the text only
    reason_message: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    field: Mapped[str | None] = mapped_column(String(64))
    recid: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("provider", "delivery_key", name="uq_release_deliveries_provider_key"),
        Index("ix_release_deliveries_repository_id", "repository_id", "id"),
    )
