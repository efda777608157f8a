"""Tables of the usage statistics: raw events, daily salts, hourly aggregates and co-downloads."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, BigIntPK


class UsageEvent(Base):
    """One counted access. ``visitor`` is a salted hash rotated daily; no IP or user agent is stored."""

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # view | download | launch
    recid: Mapped[int] = mapped_column(Integer)
    concept_recid: Mapped[int] = mapped_column(Integer)
    file_key: Mapped[str] = mapped_column(String(512), default="")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    visitor: Mapped[str] = mapped_column(String(64))
    machine: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_usage_events_created", "created_at"),)


class StatsSalt(Base):
    """The salt of one UTC day; salts older than yesterday are deleted, so hashes cannot be re-linked."""

    __tablename__ = "stats_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))


class StatsAggregate(Base):
    """Counts of one hour for one version (scope "version") or one concept (scope "concept")."""

    __tablename__ = "stats_aggregates"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    recid: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    unique_visitors: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(BigInteger, default=0)


class CoDownload(Base):
    """Visitors (per hour) who downloaded files of both concepts: "people who downloaded this also downloaded"."""

    __tablename__ = "stats_codownloads"

    concept_recid: Mapped[int] = mapped_column(Integer, primary_key=True)
    other_recid: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class StatsState(Base):
    """Bookkeeping of the aggregator: the first hour still open to recounting, and the last run."""

    __tablename__ = "stats_state"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[datetime] = mapped_column(DateTime(timezone=True))
