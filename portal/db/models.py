"""SQLAlchemy 2 models of the catalogue. Every schema change goes through an alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy import Boolean as _Boolean
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# "This version's metadata is restricted", as literal SQL per dialect: the predicate of the partial index
# ix_records_restricted, which a query uses only when it spells the condition the same way (no bound parameters).
RESTRICTED_SQL = {
    "postgresql": "((metadata -> 'access') ->> 'record') = 'restricted'",
    "sqlite": "json_extract(metadata, '$.access.record') = 'restricted'",
}
# "This direct file may hold (part of) a Python package", as literal SQL (the same on both databases; see
# portal.processing.software.may_hold_package): the predicate of the partial index ix_files_package, through which
# the Analyse panel finds the few software records worth reading instead of scanning every software record.
PACKAGE_FILE_SQL = (
    "index_id IS NULL AND (lower(key) LIKE '%.tar.gz' OR lower(key) LIKE '%.tgz' OR lower(key) LIKE '%.tar' "
    "OR lower(key) LIKE '%.zip' OR lower(key) LIKE '%.whl' OR lower(key) LIKE '%.py' "
    "OR lower(key) IN ('portal-analyses.toml', 'pyproject.toml', 'setup.cfg', 'setup.py'))"
)
# Integer primary keys must be INTEGER on SQLite to alias rowid (autoincrement).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Concept(Base):
    """The concept of a versioned record: its id and DOI always resolve to the latest published version."""

    __tablename__ = "concepts"

    recid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    doi: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Record(Base):
    """One version of a record (draft or published). Metadata is the validated record JSON without files."""

    __tablename__ = "records"

    recid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    concept_recid: Mapped[int] = mapped_column(ForeignKey("concepts.recid"), index=True)
    version_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # "draft" | "published" | "removed"
    doi: Mapped[str | None] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(Text)
    type_primary: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    content_hash: Mapped[str] = mapped_column(String(64))
    files_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A removed version (status "removed", migration 0016) is a tombstone: when, why, and how to cite it.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removal_reason: Mapped[str | None] = mapped_column(Text)
    removal_citation: Mapped[str | None] = mapped_column(Text)
    #: the user who started this version (users.id, 0016); None for records loaded by the command line
    owner_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("concept_recid", "version_index", name="uq_records_concept_version"),
        Index("ix_records_status_updated", "status", "updated_at", "recid"),  # OAI-PMH's keyset order (0011)
        Index("ix_records_owner", "owner_id"),
        # The few versions whose metadata is restricted (scale_0001): every search asks which they are, and
        # without this index that question read the metadata of the whole table (seconds at a million).
        Index(
            "ix_records_restricted",
            "recid",
            postgresql_where=text(RESTRICTED_SQL["postgresql"]),
            sqlite_where=text(RESTRICTED_SQL["sqlite"]),
        ),
    )


class FileIndex(Base):
    """A file index of a record (CERN's index.json/index.txt pair); its entries are rows of `files`."""

    __tablename__ = "file_indices"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recid: Mapped[int] = mapped_column(ForeignKey("records.recid", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text)
    number_files: Mapped[int] = mapped_column(BigInteger, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Where the index file itself lives (root:// URI of index.json), when known.
    uri: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("recid", "key", name="uq_file_indices_recid_key"),)


class File(Base):
    """A file of a record: a direct file (index_id NULL) or an entry of a file index.

    ``position`` is dense (0..n-1) within (recid, index_id), so any page is a range scan.
    """

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recid: Mapped[int] = mapped_column(ForeignKey("records.recid", ondelete="CASCADE"))
    index_id: Mapped[int | None] = mapped_column(ForeignKey("file_indices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(80))
    type: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    availability: Mapped[str | None] = mapped_column(String(32))
    format: Mapped[str | None] = mapped_column(String(32))
    entries: Mapped[int | None] = mapped_column(BigInteger)
    inspection: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_files_recid_index_position", "recid", "index_id", "position"),
        Index("ix_files_recid_key", "recid", "key"),
        # The few direct files that may hold a package (perf1m_0001): software analyses are found through it.
        Index(
            "ix_files_package",
            "recid",
            postgresql_where=text(PACKAGE_FILE_SQL),
            sqlite_where=text(PACKAGE_FILE_SQL),
        ),
    )


class AnalysisJob(Base):
    """An analysis run over a dataset (migration 0007): state, progress, result and provenance."""

    __tablename__ = "analysis_jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    analysis: Mapped[str] = mapped_column(String(512))
    dataset_recid: Mapped[int] = mapped_column(Integer)
    executor: Mapped[str] = mapped_column(String(16))
    skip_bad_files: Mapped[bool] = mapped_column(_Boolean)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    derived_recid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the user who started the job (users.id, 0016); None for jobs of the command line
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    #: the environment build (key + spec) a re-run of a software record's analysis is pinned to (swanalyses_0001)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: why it failed as a message id and values (PortalError.stored, swdemo_0001), shown in the reader's language;
    #: None for a failure that is no domain error and for rows from before (their English ``error`` is shown)
    error_message: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_analysis_jobs_dataset", "dataset_recid"),
        Index("ix_analysis_jobs_owner_state", "owner_id", "state"),
    )


class EnvironmentBuild(Base):
    """A finished environment build, keyed by hash(spec files + builder version + commit) (migration 0006)."""

    __tablename__ = "environment_builds"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    builder: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(1024))
    source_commit: Mapped[str] = mapped_column(String(64))
    spec_hash: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EnvironmentPin(Base):
    """The build key of a record version: pinned at publication (or first launch); its launches reuse it."""

    __tablename__ = "environment_pins"

    recid: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    # The spec files the key was computed from (migration 0014), pinned when the version was published, so the
    # environment can be rebuilt as it was after analysis_envs/ moved on; None for pins made at a first launch.
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # The image the pinned build made (migration containers_0019): its reference and id (sha256 of its
    # configuration, so of its content); None for builders that make no image, or until the first build.
    image: Mapped[str | None] = mapped_column(String(255), nullable=True)
    image_digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LaunchSession(Base):
    """A launch someone started (migration 0016): whose (``owner_id``, or None and the ``client`` address for an
    anonymous visitor), what, and how it went: ``starting`` until the launcher answers, then ``ready`` (with the
    server's ``url``) or ``failed``. Quotas count the launches still starting."""

    __tablename__ = "launch_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    client: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text)
    recid: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # starting | ready | failed
    url: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    #: ``message`` as a message id and values (migration i18n18_0001), shown in the reader's language; None: text only
    message_text: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_launch_sessions_owner_state", "owner_id", "state"),
        Index("ix_launch_sessions_client_state", "client", "state"),
    )
