"""Deposits: drafts, the files declared on them, their bytes streamed to the upload store, and publication.

Bytes are streamed in fixed-size blocks (bounded memory) and their size, adler32, SHA-256 and MD5 are computed as
they pass. A file is "pending" until committed ("completed"); publishing a draft with a pending file is refused.
On publication the completed uploads are placed into the catalogue's storage under `deposits/<recid>/<attempt>/`,
ingested exactly as `portal ingest` does (format sniffed from the content, inspected), and their catalogue file rows
written in the same transaction that publishes the version. Until then no catalogue file row exists, so an abandoned
upload leaves nothing but bytes in the store, which `portal uploads clean` removes.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.catalog.results import RecordView
from portal.catalog.rows import now
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.deposit import forms
from portal.deposit.models import Upload
from portal.deposit.stores import UploadStore, older_than, unplace
from portal.errors import ChecksumMismatch, Conflict, Invalid, NoSpace, NotFound, TooLarge
from portal.files.ingest import Ingester
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import Principal
from portal.jobqueue.base import Entry, JobQueue
from portal.review.models import ReviewRequest
from portal.storage.base import Storage

#: the queue kind publishing a large deposit (`portal/jobqueue/tasks.py`), its ref naming the draft
PUBLISH_KIND = "deposit.publish"
READ_BLOCK = 1024 * 1024  # bytes read from the request per step: the memory an upload holds, whatever its size
KEY_MAX = 255
_DIGEST_CACHE = 256  # running digests kept for uploads in progress; others are recomputed from the store


@dataclass(frozen=True)
class DraftFile:
    """A file of a draft: carried over from the previous version (``carried``) or uploaded to this one."""

    key: str
    status: str  # "pending" | "completed"
    size: int | None  # declared size of a pending upload, or the size of a completed file
    received: int
    adler32: str | None
    sha256: str | None
    md5: str | None
    created: datetime | None
    updated: datetime | None
    upload_id: str | None
    carried: bool = False


@dataclass(frozen=True)
class CleanReport:
    rows: int  # abandoned pending uploads removed (their rows and bytes)
    orphans: int  # bytes in the store that no upload row named
    bytes: int


class _Digests:
    """Running digests of an upload's first ``offset`` bytes."""

    def __init__(self) -> None:
        self.offset = 0
        self.adler = 1
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def update(self, chunk: bytes) -> None:
        self.adler = zlib.adler32(chunk, self.adler)
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.offset += len(chunk)


def check_key(key: Any) -> str:
    """A file key: a plain file name (no folders), so every key is one path under the version's directory."""
    if not isinstance(key, str) or not key.strip():
        raise Invalid(N_("each file needs a `key`: its file name"), field="key")
    if len(key) > KEY_MAX or "/" in key or "\\" in key or key in (".", "..") or any(ord(c) < 32 for c in key):
        raise Invalid(
            N_("file key {key!r} must be a plain file name of at most {KEY_MAX} characters (no / or \\)"),
            key=key[:80],
            KEY_MAX=KEY_MAX,
            field="key",
        )
    if key.endswith(".part"):
        raise Invalid(N_("file keys ending in .part are reserved for partial writes"), field="key")
    return key


def publish_ref(recid: int) -> str:
    return f"{PUBLISH_KIND}:{recid}"


class DepositService:
    """Drafts and their uploads, for the deposit API, tus and the Zenodo-compatible API."""

    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        store: UploadStore,
        storage: Storage,
        ingester: Ingester,
        *,
        owners_publish: bool = False,
        max_files: int = 0,
        max_bytes: int = 0,
        max_user_bytes: int = 0,
        max_user_files: int = 0,
        base_url: str = "",
        queue: JobQueue | None = None,
        queue_files: int = -1,
        queue_bytes: int = 0,
    ) -> None:
        """``queue``, ``queue_files``, ``queue_bytes``: a publication of more files (-1: no count) or more bytes (0: no
        size) than these runs as a `deposit.publish` job on that queue (:meth:`queue_publish`)."""
        self.db = db
        self.queue = queue
        self.queue_files = queue_files
        self.queue_bytes = queue_bytes
        self.base_url = base_url
        self.catalog = catalog
        self.store = store
        self.storage = storage
        self.ingester = ingester
        self.owners_publish = owners_publish
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_user_bytes = max_user_bytes
        self.max_user_files = max_user_files
        self._digests: OrderedDict[str, _Digests] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------- drafts
    def create(self, metadata: dict[str, Any], *, actor: Principal) -> RecordView:
        """A new draft. A type with a deposit form is checked against its schema first (every field's problem at
        once: InvalidFields), after the permission, so an anonymous writer learns to sign in first."""
        policy.require_scope(actor, "deposit:write")
        forms.check(metadata)
        return self.catalog.create_draft(metadata, actor=actor)

    def draft(self, recid: int, *, actor: Principal) -> RecordView:
        """The draft when ``actor`` may change it; NotFound, Conflict (published), Unauthorized, Forbidden."""
        return self.catalog.versioning.require_draft(recid, actor=actor)

    def update(
        self, recid: int, metadata: dict[str, Any], *, actor: Principal, files: list[dict[str, Any]] | None = None
    ) -> RecordView:
        """New metadata for a draft; ``files``: the catalogue's own file rows instead of uploads (curators' imports
        of already-stored files). Neither while the draft is under review."""
        if files is None:
            forms.check(metadata)
        self._writable(recid, actor=actor)
        if files is not None:
            return self.catalog.update_draft(recid, metadata, files=files, actor=actor)
        return self.catalog.update_draft(recid, metadata, actor=actor)

    def require_publish(self, view: RecordView, *, actor: Principal) -> None:
        """Refuse (Unauthorized, Forbidden) unless ``actor`` may publish ``view`` directly: its owner where the site
        lets owners publish (`deposit_owners_publish`), else a curator. Pages ask it to offer the button or say why
        (a draft for a curated collection is submitted for review instead: portal/review/)."""
        if self.owners_publish:
            policy.require_publish_own(actor, view.owner_id)
        else:
            policy.require_publish_directly(actor)

    def _writable(self, recid: int, *, actor: Principal) -> RecordView:
        """The draft when ``actor`` may change it now: as :meth:`draft`, and not while a curator reviews it (what
        they accept must be what they saw). Conflict naming the request otherwise."""
        view = self.draft(recid, actor=actor)
        with self.db.reader() as s:
            under = s.scalar(
                select(ReviewRequest.id).where(ReviewRequest.recid == recid, ReviewRequest.state == "submitted")
            )
        self._require_not_publishing(recid)
        if under is not None:
            raise Conflict(
                N_("draft {recid} is under review (request {under}); cancel the request to change it"),
                recid=recid,
                under=under,
                record=recid,
                field="state",
            )
        return view

    def publishing(self, recid: int) -> Entry | None:
        """The `deposit.publish` job publishing draft ``recid`` now (queued or running), or None."""
        job = self.queue.find(publish_ref(recid)) if self.queue is not None else None
        return job if job is not None and job.state in ("queued", "running") else None

    def publication(self, recid: int) -> Entry | None:
        """The latest `deposit.publish` job of draft ``recid`` in any state (a failed one says why), or None."""
        return self.queue.find(publish_ref(recid)) if self.queue is not None else None

    def require_not_publishing(self, recid: int) -> None:
        """Conflict while a `deposit.publish` job publishes the draft (a review decided meanwhile, a change)."""
        self._require_not_publishing(recid)

    def _require_not_publishing(self, recid: int) -> None:
        """Conflict while a `deposit.publish` job publishes the draft: what it publishes must be what was asked."""
        job = self.publishing(recid)
        if job is not None:
            raise Conflict(
                N_("draft {recid} is being published (job {job_id}); wait for the job to end"),
                recid=recid,
                job_id=job.id,
                record=recid,
                field="state",
            )

    def reserve_doi(self, recid: int, *, actor: Principal) -> RecordView:
        """InvenioRDM's `POST …/draft/pids/doi`: the DOI the draft will be published under, known before publishing
        (to cite it in the paper or the files being deposited). The PID provider reserves it as a draft DOI (not
        resolvable yet; DataCite's `draft` state) with the draft's metadata; publishing makes that same DOI findable.
        Idempotent. Refused: not a draft the actor may change (as :meth:`update`); the registry down (Unavailable,
        nothing kept) or refusing the metadata (Invalid naming the attribute)."""
        policy.require_scope(actor, "deposit:write")
        view = self._writable(recid, actor=actor)
        pids = self.catalog.pids
        doi = view.doi or pids.mint(recid)
        if pids.remote:
            from dataclasses import replace

            from portal.exports.common import ExportRecord
            from portal.exports.datacite import datacite_json

            pids.reserve(doi, datacite_json(ExportRecord(view=replace(view, doi=doi), base_url=self.base_url)))
        if not view.doi:
            self.catalog.versioning.reserve_doi(recid, doi)
        return self.draft(recid, actor=actor)

    def new_version(self, recid: int, *, actor: Principal) -> RecordView:
        """A new version: a draft carrying the latest version's files over (InvenioRDM's "files import")."""
        return self.catalog.new_version(recid, actor=actor)

    def discard(self, recid: int, *, actor: Principal) -> None:
        """Delete a draft and its uploads (rows in the same transaction; bytes after it)."""
        ids: list[str] = []

        def drop_uploads(s: Session) -> None:
            ids.extend(s.scalars(select(Upload.id).where(Upload.recid == recid)))
            s.execute(delete(Upload).where(Upload.recid == recid))

        self._writable(recid, actor=actor)
        self.catalog.versioning.discard_draft(recid, actor=actor, also=drop_uploads)
        for upload_id in ids:
            self._forget(upload_id)

    # ------------------------------------------------------------------------------------------- files
    def files(self, recid: int, *, actor: Principal) -> list[DraftFile]:
        """The draft's files: those carried from the previous version, then the uploads (a new upload of a
        carried key replaces it)."""
        view = self.draft(recid, actor=actor)
        return self._files(view)

    def _files(self, view: RecordView) -> list[DraftFile]:
        uploads = self._uploads(view.recid)
        replaced = {u.key for u in uploads}
        carried = [_carried(f, view.updated_at) for f in self._carried_rows(view.recid) if f["key"] not in replaced]
        return carried + [_draft_file(u) for u in uploads]

    def _carried_rows(self, recid: int) -> Iterator[dict[str, Any]]:
        after = -1
        while True:
            items, cursor = self.catalog.find_files(recid, after=after, size=1000)
            yield from items
            if cursor is None:
                return
            after = cursor

    def _uploads(self, recid: int) -> list[Upload]:
        with self.db.reader() as s:
            rows = list(s.scalars(select(Upload).where(Upload.recid == recid).order_by(Upload.created_at, Upload.key)))
            s.expunge_all()
            return rows

    def file(self, recid: int, key: str, *, actor: Principal) -> DraftFile:
        for f in self.files(recid, actor=actor):
            if f.key == key:
                return f
        raise NotFound(N_("draft {recid} has no file {key!r}"), recid=recid, key=key, record=recid, field="key")

    def declare(self, recid: int, entries: Any, *, actor: Principal) -> list[DraftFile]:
        """Declare files by key (``[{"key": ...}, ...]``, an optional ``size`` each); a declared key that exists
        is refused (delete it first). Quotas of files per version apply here."""
        view = self._writable(recid, actor=actor)
        if not isinstance(entries, list) or not entries:
            raise Invalid(N_("send a JSON array of objects, each with the `key` of a file"), field="key")
        keys: list[tuple[str, int | None]] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise Invalid(N_("each declared file is an object with a `key`"), field="key")
            size = entry.get("size")
            if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
                raise Invalid(N_("`size` must be a non-negative integer (bytes)"), field="size")
            keys.append((check_key(entry.get("key")), size))
        if len({k for k, _ in keys}) != len(keys):
            raise Invalid(N_("the same key is declared twice"), field="key")
        existing = {f.key: f for f in self._files(view)}
        for key, _size in keys:
            if key in existing and not existing[key].carried:
                raise Conflict(
                    N_("file {key!r} is declared already; delete it first to upload it again"), key=key, field="key"
                )
        adding = sum(1 for key, _ in keys if key not in existing)
        policy.require_upload_quota("quota_deposit_files", len(existing), adding, self.max_files, recid=recid)
        self._check_user_files(actor, len(keys))
        declared = sum(size or 0 for _, size in keys)
        self._check_bytes(view, actor, declared, replacing=[k for k, _ in keys])
        rows = [_new_upload(recid, key, actor, size) for key, size in keys]
        ids = [row.id for row in rows]
        with self.db.transaction() as s:
            s.add_all(rows)
        for upload_id in ids:
            self.store.create(upload_id)
        return self._files(view)

    def delete(self, recid: int, key: str, *, actor: Principal) -> None:
        """Remove a file from a draft: an upload (its bytes too) or a file carried from the previous version."""
        view = self._writable(recid, actor=actor)
        with self.db.transaction() as s:
            upload = s.scalar(select(Upload).where(Upload.recid == recid, Upload.key == key))
            if upload is not None:
                upload_id = upload.id
                s.delete(upload)
        if upload is not None:
            self._forget(upload_id)
            return
        if not any(f["key"] == key for f in self._carried_rows(view.recid)):
            raise NotFound(N_("draft {recid} has no file {key!r}"), recid=recid, key=key, record=recid, field="key")
        self.catalog.versioning.change_draft_files(recid, remove=[key], add=[], actor=actor)

    # ------------------------------------------------------------------------------------------- bytes
    def write(
        self, recid: int, key: str, stream: IO[bytes], *, actor: Principal, length: int | None = None
    ) -> DraftFile:
        """Stream the whole content of a declared file (InvenioRDM's `PUT …/content`): it starts again from the
        first byte. ``length`` is the request's Content-Length, when sent."""
        view = self._writable(recid, actor=actor)
        upload = self._upload_of(recid, key)
        if length is not None:
            self._check_bytes(view, actor, length, replacing=[key])
        room = self._room(view, actor, replacing=key)
        self._append(upload, 0, stream, limit=length, room=room)
        with self.db.transaction() as s:
            row = s.get(Upload, upload.id)
            assert row is not None
            row.status = "pending"  # a new content needs a new commit, which computes the digests anew
            row.sha256 = row.md5 = None
            if length is not None:
                row.length = length
            return _draft_file(row)

    def put_file(
        self, recid: int, key: str, stream: IO[bytes], *, actor: Principal, length: int | None = None
    ) -> DraftFile:
        """Declare, stream and commit in one request (Zenodo's bucket `PUT`): an earlier upload of the key is
        replaced, and so is a file of that key carried from the previous version."""
        key = check_key(key)
        self._writable(recid, actor=actor)
        with self.db.transaction() as s:
            old = s.scalar(select(Upload).where(Upload.recid == recid, Upload.key == key))
            old_id = old.id if old is not None else None
            if old is not None:
                s.delete(old)
        if old_id is not None:
            self._forget(old_id)
        self.declare(recid, [{"key": key}], actor=actor)
        try:
            self.write(recid, key, stream, actor=actor, length=length)
        except NoSpace:
            # one request, one outcome: a file that did not fit on the disk leaves no declared file behind
            # (the store dropped its bytes), so the same request succeeds as it is once space is freed
            upload_id = self._upload_of(recid, key).id
            with self.db.transaction() as s:
                s.execute(delete(Upload).where(Upload.id == upload_id))
            self._forget(upload_id)
            raise
        return self.commit(recid, key, actor=actor)

    def commit(self, recid: int, key: str, *, actor: Principal) -> DraftFile:
        """Mark an uploaded file complete, with its final digests. Refused (Conflict) while bytes are missing."""
        self._writable(recid, actor=actor)
        upload = self._upload_of(recid, key)
        return self._complete(upload.id)

    def start(self, recid: int, key: str, length: int, *, actor: Principal) -> DraftFile:
        """A resumable upload (tus creation) of ``length`` bytes for ``key`` of draft ``recid``; an earlier upload
        of the same key is replaced."""
        key = check_key(key)
        view = self._writable(recid, actor=actor)
        known = {f.key: f for f in self._files(view)}
        if key not in known:
            policy.require_upload_quota("quota_deposit_files", len(known), 1, self.max_files, recid=recid)
        if not any(f.key == key and not f.carried for f in known.values()):
            self._check_user_files(actor, 1)
        self._check_bytes(view, actor, length, replacing=[key])
        old: str | None = None
        with self.db.transaction() as s:
            existing = s.scalar(select(Upload).where(Upload.recid == recid, Upload.key == key))
            if existing is not None:
                old = existing.id
                s.delete(existing)
                s.flush()
            row = _new_upload(recid, key, actor, length)
            s.add(row)
            s.flush()
            result = _draft_file(row)
        if old is not None:
            self._forget(old)
        self.store.create(result.upload_id or "")
        if length == 0:  # nothing to send: complete at once (tus never sends a PATCH for it)
            return self._complete(result.upload_id or "")
        return result

    def upload(self, upload_id: str, *, actor: Principal, write: bool = False) -> DraftFile:
        """A resumable upload by id, when ``actor`` may change its draft (``write``: and may change it now, not
        while it is under review)."""
        with self.db.reader() as s:
            row = s.get(Upload, upload_id)
            if row is None:
                raise NotFound(N_("there is no upload {upload_id!r}"), upload_id=upload_id, field="upload")
            recid = row.recid
            result = _draft_file(row)
        if write:
            self._writable(recid, actor=actor)
        else:
            self.draft(recid, actor=actor)
        return result

    def resume(
        self,
        upload_id: str,
        offset: int,
        stream: IO[bytes],
        *,
        actor: Principal,
        length: int | None,
        chunk_digest: tuple[str, bytes] | None = None,
    ) -> DraftFile:
        """Append a chunk at ``offset`` (tus PATCH). ``chunk_digest`` is (algorithm, digest) the client declared for
        this chunk: a mismatch drops the chunk (ChecksumMismatch) and leaves the upload as it was. Reaching the
        declared length completes the file."""
        current = self.upload(upload_id, actor=actor, write=True)
        if offset != current.received:
            raise Conflict(
                N_("this upload is at offset {current_received}, not {offset}"),
                current_received=current.received,
                offset=offset,
                field="Upload-Offset",
            )
        declared = current.size or 0
        if length is not None and offset + length > declared:
            raise TooLarge(
                N_("the chunk goes beyond the declared Upload-Length {declared}"),
                declared=declared,
                field="Upload-Length",
            )
        with self.db.reader() as s:
            row = s.get(Upload, upload_id)
            assert row is not None
            s.expunge(row)
        check = None if chunk_digest is None else hashlib.new(chunk_digest[0])
        self._append(row, offset, stream, limit=declared - offset, room=None, check=check)
        if check is not None and chunk_digest is not None and check.digest() != chunk_digest[1]:
            self.store.truncate(upload_id, offset)
            with self._lock:
                self._digests.pop(upload_id, None)
            with self.db.transaction() as s:
                back = s.get(Upload, upload_id)
                if back is not None:
                    back.received = offset
            raise ChecksumMismatch(
                N_("the chunk's {algorithm} does not match Upload-Checksum; it was dropped"),
                algorithm=chunk_digest[0],
                field="Upload-Checksum",
            )
        done = self.upload(upload_id, actor=actor)
        if done.received == declared:
            return self._complete(upload_id)
        return done

    def terminate(self, upload_id: str, *, actor: Principal) -> None:
        """Delete a resumable upload (tus termination): its row and its bytes."""
        self.upload(upload_id, actor=actor, write=True)
        with self.db.transaction() as s:
            s.execute(delete(Upload).where(Upload.id == upload_id))
        self._forget(upload_id)

    def _upload_of(self, recid: int, key: str) -> Upload:
        with self.db.reader() as s:
            row = s.scalar(select(Upload).where(Upload.recid == recid, Upload.key == key))
            if row is None:
                raise NotFound(
                    N_("draft {recid} has no declared file {key!r}; declare it first"),
                    recid=recid,
                    key=key,
                    field="key",
                )
            s.expunge(row)
            return row

    def _append(
        self, upload: Upload, offset: int, stream: IO[bytes], *, limit: int | None, room: int | None, check: Any = None
    ) -> None:
        digests = self._digests_at(upload.id, offset)
        received = offset

        def chunks() -> Iterator[bytes]:
            nonlocal received
            while True:
                want = READ_BLOCK if limit is None else min(READ_BLOCK, limit - (received - offset) + 1)
                if want <= 0:
                    return
                block = stream.read(want)
                if not block:
                    return
                if limit is not None and received - offset + len(block) > limit:
                    raise TooLarge(N_("more bytes than declared ({limit})"), limit=limit, field="Content-Length")
                if room is not None and received + len(block) > room:
                    raise TooLarge(
                        N_("this file would go beyond the deposit quota ({room} bytes left for it)"),
                        room=room,
                        field="quota_deposit_bytes",
                    )
                digests.update(block)
                if check is not None:
                    check.update(block)
                received += len(block)
                yield block

        try:
            self.store.append(upload.id, offset, chunks())
        except TooLarge:
            self.store.truncate(upload.id, offset)
            with self._lock:
                self._digests.pop(upload.id, None)
            received = offset
            raise
        finally:
            # what the store holds is the truth: a chunk read but not written (a failing store) is not counted,
            # and the running digests that include it are dropped (the next resume recomputes them)
            try:
                stored = self.store.size(upload.id)
            except NotFound:
                stored = offset
            if stored != received:
                with self._lock:
                    self._digests.pop(upload.id, None)
            with self.db.transaction() as s:
                row = s.get(Upload, upload.id)
                if row is not None:
                    row.received = stored
                    row.adler32 = digests.adler if digests.offset == stored else 1
                    row.updated_at = now()

    def _digests_at(self, upload_id: str, offset: int) -> _Digests:
        """The running digests of the first ``offset`` bytes: kept from the previous chunk, or recomputed from
        the store when this process did not see it (a restart, another worker)."""
        with self._lock:
            found = self._digests.pop(upload_id, None)
        if found is None or found.offset != offset:
            found = _Digests()
            if offset:
                with self.store.open(upload_id) as fh:
                    while found.offset < offset:
                        block = fh.read(min(READ_BLOCK, offset - found.offset))
                        if not block:
                            break
                        found.update(block)
            if found.offset != offset:
                raise Conflict(
                    N_("the upload store holds {found_offset} bytes, not {offset}"),
                    found_offset=found.offset,
                    offset=offset,
                    field="Upload-Offset",
                )
        with self._lock:
            self._digests[upload_id] = found
            while len(self._digests) > _DIGEST_CACHE:
                self._digests.popitem(last=False)
        return found

    def _complete(self, upload_id: str) -> DraftFile:
        with self.db.reader() as s:
            row = s.get(Upload, upload_id)
            if row is None:
                raise NotFound(N_("there is no upload {upload_id!r}"), upload_id=upload_id, field="upload")
            received, length, key = row.received, row.length, row.key
        if length is not None and received != length:
            raise Conflict(
                N_("file {key!r} has {received} of its {length} bytes; send the rest first"),
                key=key,
                received=received,
                length=length,
                field="key",
            )
        stored = self.store.size(upload_id)
        if stored != received:
            raise Conflict(
                N_("file {key!r} has {stored} bytes in the store, not {received}"),
                key=key,
                stored=stored,
                received=received,
                field="key",
            )
        digests = self._digests_at(upload_id, received)
        with self._lock:
            self._digests.pop(upload_id, None)
        with self.db.transaction() as s:
            row = s.get(Upload, upload_id)
            assert row is not None
            row.status = "completed"
            row.length = received
            row.adler32 = digests.adler
            row.sha256 = digests.sha256.hexdigest()
            row.md5 = digests.md5.hexdigest()
            row.updated_at = now()
            return _draft_file(row)

    def _forget(self, upload_id: str) -> None:
        with self._lock:
            self._digests.pop(upload_id, None)
        self.store.delete(upload_id)

    # ------------------------------------------------------------------------------------------- quotas
    def _used(self, view: RecordView, actor: Principal, replacing: Iterable[str]) -> tuple[int, int]:
        """(bytes of the draft, bytes of the user's unpublished uploads), leaving out the keys ``replacing``."""
        skip = set(replacing)
        record = sum(f.get("size") or 0 for f in self._carried_rows(view.recid) if f["key"] not in skip)
        with self.db.reader() as s:
            sizes = func.coalesce(func.sum(func.coalesce(Upload.length, Upload.received)), 0)
            query = select(sizes).where(Upload.recid == view.recid)
            if skip:
                query = query.where(Upload.key.not_in(skip))
            record += int(s.scalar(query) or 0)
            user = 0
            if actor.user_id is not None:
                mine = select(sizes).where(Upload.owner_id == actor.user_id)
                if skip:
                    mine = mine.where((Upload.recid != view.recid) | Upload.key.not_in(skip))
                user = int(s.scalar(mine) or 0)
        return record, user

    def _check_user_files(self, actor: Principal, adding: int) -> None:
        if self.max_user_files <= 0 or actor.user_id is None:
            return
        with self.db.reader() as s:
            used = int(s.scalar(select(func.count(Upload.id)).where(Upload.owner_id == actor.user_id)) or 0)
        policy.require_upload_quota("quota_upload_files_per_user", used, adding, self.max_user_files)

    def _check_bytes(self, view: RecordView, actor: Principal, adding: int, *, replacing: list[str]) -> None:
        record, user = self._used(view, actor, replacing)
        policy.require_upload_quota("quota_deposit_bytes", record, adding, self.max_bytes, recid=view.recid)
        policy.require_upload_quota("quota_upload_bytes_per_user", user, adding, self.max_user_bytes)

    def _room(self, view: RecordView, actor: Principal, *, replacing: str) -> int | None:
        """The most bytes one file may still take under the quotas (None: no limit)."""
        record, user = self._used(view, actor, [replacing])
        rooms = [limit - used for limit, used in ((self.max_bytes, record), (self.max_user_bytes, user)) if limit > 0]
        return min(rooms) if rooms else None

    # ------------------------------------------------------------------------------------------- publishing
    def publish(
        self,
        recid: int,
        *,
        actor: Principal,
        authorize: Callable[[Principal, int | None], None] | None = None,
        also: Callable[[Session], None] | None = None,
        folder: str | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> RecordView:
        """Publish a draft with its files: completed uploads are placed in the catalogue's storage, ingested like
        `portal ingest`, and become the version's file rows in the transaction that publishes it (their bytes
        leave the upload store after it commits). Refused: a pending file (Conflict naming its key), a damaged
        file (Invalid naming it), a publication the policy refuses (before any byte moves).

        ``authorize(actor, owner_id)`` replaces the site's publishing rule (a collection's curator accepting a
        review is allowed by the review, not by a site-wide role); ``also(session)`` runs in the publishing
        transaction (the review's state changes with the publication, or not at all). ``folder`` and ``progress``
        are a queued publication's (:meth:`queue_publish`): its job's folder, and ``progress(file, done)`` after each
        file ingested, which may raise (a cancel) to stop before anything is published."""
        view = self.catalog.get(recid, include_drafts=True)
        # the publishing permission alone (a curator's token may carry `deposit:publish` without `deposit:write`)
        if authorize is not None:
            authorize(actor, view.owner_id)
        else:
            self.require_publish(view, actor=actor)
        if folder is None:  # a queued publication's job runs with its folder; anything else waits for that job
            self._require_not_publishing(recid)
        uploads = self._publishable(view)
        # a folder of this attempt's own: a concurrent or failed attempt never removes bytes another one published;
        # a queued publication's folder is its job's, emptied first (what a lost worker's attempt left there)
        if folder is None:
            folder = f"deposits/{recid}/{secrets.token_hex(4)}"
        else:
            self._empty(folder)
        placed: list[str] = []
        try:
            for upload in uploads:
                path = f"{folder}/{upload.key}"
                self.store.place(upload.id, self.storage, path)
                placed.append(path)
            rows = self._ingest(folder, uploads, progress) if uploads else []

            def drop_uploads(s: Session) -> None:
                s.execute(delete(Upload).where(Upload.recid == recid))
                if also is not None:
                    also(s)

            published = self.catalog.versioning.publish(
                recid,
                actor=actor,
                remove=[u.key for u in uploads],
                add=rows,
                owners_publish=self.owners_publish,
                authorize=authorize,
                also=drop_uploads,
            )
        except BaseException:
            for path in placed:
                unplace(self.storage, path)
            raise
        for upload in uploads:
            self._forget(upload.id)
        return published

    def _publishable(self, view: RecordView) -> list[Upload]:
        """The draft's uploads, when every one is committed (Conflict naming the first pending one otherwise)."""
        if view.status != "draft":
            raise Conflict(N_("this version is already published"), record=view.recid)
        uploads = self._uploads(view.recid)
        for upload in uploads:
            if upload.status != "completed":
                raise Conflict(
                    N_("file {upload_key!r} is not committed ({upload_received} bytes received); commit or delete it"),
                    upload_key=upload.key,
                    upload_received=upload.received,
                    record=view.recid,
                    field="key",
                )
        return uploads

    def publish_given_up(self, folder: str) -> None:
        """A `deposit.publish` job failed for good: the bytes it placed go (the draft and its uploads stay)."""
        if folder.startswith("deposits/"):
            self._empty(folder)

    def _empty(self, folder: str) -> None:
        try:
            paths = list(self.storage.walk(folder))
        except (OSError, NotFound):
            return  # nothing there yet: the first attempt
        for path in paths:
            unplace(self.storage, path)

    def queue_publish(
        self,
        recid: int,
        *,
        actor: Principal,
        authorize: Callable[[Principal, int | None], None] | None = None,
        review: dict[str, Any] | None = None,
    ) -> int | None:
        """Queue the publication of a large draft (more files than ``queue_files`` or more bytes than
        ``queue_bytes``) as a `deposit.publish` job; its id, or None for a draft small enough to publish now (the
        caller then calls :meth:`publish`). Checked first as :meth:`publish` checks (permission, a draft, every file
        committed, not being published already); the draft stays a draft, closed to changes, until the job ends.

        ``authorize`` as :meth:`publish`'s; ``review``: what a curator's review decided (`ReviewService`), carried
        in the job so that the request changes in the publishing transaction the job runs."""
        if self.queue is None:
            return None
        view = self.catalog.get(recid, include_drafts=True)
        if authorize is not None:
            authorize(actor, view.owner_id)
        else:
            self.require_publish(view, actor=actor)
        self._require_not_publishing(recid)
        uploads = self._publishable(view)
        many = self.queue_files >= 0 and len(uploads) > self.queue_files
        large = self.queue_bytes > 0 and sum(u.received for u in uploads) > self.queue_bytes
        if not (many or large):
            return None
        # the job's own folder: an attempt after a lost worker empties it first, giving up removes it
        folder = f"deposits/{recid}/queued-{secrets.token_hex(4)}"
        payload: dict[str, Any] = {"recid": recid, "user": actor.user_id, "files": len(uploads), "folder": folder}
        if review is not None:
            payload["review"] = review
        with self.db.transaction() as s:
            job_id = self.queue.enqueue(
                PUBLISH_KIND, payload, owner_id=actor.user_id, ref=publish_ref(recid), max_attempts=2, session=s
            )
        self.queue.wakeup.set()
        return job_id

    def _ingest(
        self, folder: str, uploads: list[Upload], progress: Callable[[str, int], None] | None = None
    ) -> list[dict[str, Any]]:
        report = self.ingester.ingest_path(self.storage, folder, progress=progress)
        if report.errors:
            path, reason = report.errors[0]
            raise Invalid(
                N_("file {name!r}: {reason}"),
                name=path.rsplit("/", 1)[-1],
                reason=reason,
                field="key",
            )
        by_key = {u.key: u for u in uploads}
        rows = report.file_rows(folder)
        for row in rows:
            upload = by_key.get(row["key"])
            if upload is None:
                continue  # a file left in the folder by someone else is not part of this deposit
            expected = f"adler32:{upload.adler32 & 0xFFFFFFFF:08x}"
            if row["checksum"] != expected or row["size"] != upload.received:
                raise Conflict(
                    N_(
                        "file {upload_key!r} changed on its way to the catalogue's storage "
                        "({checksum} {size} bytes, uploaded {expected} {upload_received} bytes)"
                    ),
                    upload_key=upload.key,
                    checksum=row["checksum"],
                    size=row["size"],
                    expected=expected,
                    upload_received=upload.received,
                    field="key",
                )
            # the uploaded digests stay with the file: clients check SHA-256 and MD5 as Zenodo's do
            row["inspection"] = {**(row.get("inspection") or {}), "sha256": upload.sha256, "md5": upload.md5}
        return [r for r in rows if r["key"] in by_key]

    # ------------------------------------------------------------------------------------------- cleaning
    def clean(self, *, older_than_seconds: float) -> CleanReport:
        """Remove pending uploads untouched for ``older_than_seconds`` (rows and bytes), and bytes in the store
        that no upload names (left by a crash between the two), when as old."""
        cutoff = now() - timedelta(seconds=older_than_seconds)
        with self.db.transaction() as s:
            stale = list(
                s.execute(
                    select(Upload.id, Upload.received).where(Upload.status == "pending", Upload.updated_at < cutoff)
                )
            )
            if stale:
                s.execute(delete(Upload).where(Upload.id.in_([i for i, _ in stale])))
        freed = 0
        for upload_id, received in stale:
            self._forget(upload_id)
            freed += received or 0
        with self.db.reader() as s:
            known = set(s.scalars(select(Upload.id)))
        orphans = 0
        for upload_id, mtime in list(self.store.uploads()):
            if upload_id not in known and older_than(mtime, older_than_seconds):
                try:
                    freed += self.store.size(upload_id)
                except NotFound:
                    continue
                self._forget(upload_id)
                orphans += 1
        return CleanReport(rows=len(stale), orphans=orphans, bytes=freed)


def _new_upload(recid: int, key: str, actor: Principal, length: int | None) -> Upload:
    moment = now()
    return Upload(
        id=secrets.token_hex(16),
        recid=recid,
        key=key,
        owner_id=actor.user_id,
        status="pending",
        length=length,
        received=0,
        adler32=1,
        created_at=moment,
        updated_at=moment,
    )


def _draft_file(u: Upload) -> DraftFile:
    done = u.status == "completed"
    return DraftFile(
        key=u.key,
        status=u.status,
        size=u.length,
        received=u.received,
        adler32=f"adler32:{u.adler32 & 0xFFFFFFFF:08x}" if done else None,
        sha256=u.sha256,
        md5=u.md5,
        created=u.created_at,
        updated=u.updated_at,
        upload_id=u.id,
    )


def _carried(f: dict[str, Any], when: datetime) -> DraftFile:
    return DraftFile(
        key=f["key"],
        status="completed",
        size=f.get("size"),
        received=f.get("size") or 0,
        adler32=f.get("checksum"),
        sha256=None,
        md5=None,
        created=when,
        updated=when,
        upload_id=None,
        carried=True,
    )
