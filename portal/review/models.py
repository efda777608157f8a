"""Tables of collections and review requests (migration review_0001). A request's transitions are rows of their
own (who, when, which action, the comment) so the history survives a resubmission."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, BigIntPK, utcnow


class Collection(Base):
    """A collection records are published into. ``curated``: drafts submitted to it are reviewed by its curators
    (the users of ``collection_curators`` and the members of ``curator_group``) before they are published."""

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    curated: Mapped[bool] = mapped_column(Boolean, default=True)
    curator_group: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CollectionCurator(Base):
    __tablename__ = "collection_curators"

    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class ReviewRequest(Base):
    """A draft submitted to a curated collection. ``state``: submitted, accepted, declined or cancelled; one
    request per draft and collection, reopened (submitted again) by a resubmission."""

    __tablename__ = "review_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recid: Mapped[int] = mapped_column(ForeignKey("records.recid", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_review_requests_state", "state"),
        Index("ix_review_requests_owner", "owner_id"),
    )


class ReviewEvent(Base):
    """One transition of a request: submit, accept, decline, cancel (with ``comment``), by ``actor`` at ``at``."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("review_requests.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    seq: Mapped[int] = mapped_column(Integer, default=0)  # order within a request when two share a timestamp
