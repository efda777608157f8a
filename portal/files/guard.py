"""Access rights applied: what a record restricts, checked (through the policy) before anything reveals bytes or
hidden metadata, and where restricted bytes are kept (away from the public XRootD export).

Every path that reveals a record's bytes (HTTP downloads, packs, previews, histograms, analyses, launch filesets,
file-index documents) calls :meth:`AccessGuard.require_files`; record JSON, pages and exports call
:meth:`AccessGuard.require_record`. Decisions themselves are made in :mod:`portal.identity.policy`.

Restricted bytes are not left under the data directory, which XRootD exports read-only to anyone: they are
moved to ``restricted_dir`` (same relative paths), which no XRootD export covers, and are served only over
authenticated HTTP. Embargoes end at request time for HTTP (the check reads the clock); ``portal access
lift-embargoes`` (idempotent; run it daily) moves the files of ended embargoes back under the public export so
that ``root://`` URLs work again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from portal.catalog.access import AccessRights, rights_of
from portal.db.engine import Database
from portal.db.models import RESTRICTED_SQL, File, Record
from portal.errors import Invalid
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import Principal
from portal.storage.base import Storage


def utc_now() -> datetime:
    return datetime.now(UTC)


class AccessGuard:
    """Reads a record's access rights and asks the policy. ``now`` is the clock (a callable; tests set it)."""

    def __init__(
        self, db: Database, resolve: Callable[[int], tuple[int, bool]], *, now: Callable[[], datetime] = utc_now
    ):
        self.db = db
        self.resolve = resolve
        self.now = now

    def rights(self, recid: int) -> tuple[int, AccessRights]:
        """(the version ``recid`` names, its access rights). Raises NotFound."""
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            data = s.scalar(select(Record.data).where(Record.recid == target))
        return target, rights_of(data)

    def require_record(self, principal: Principal, recid: int) -> int:
        """The version ``recid`` names, if ``principal`` may see its metadata; NotFound otherwise."""
        target, rights = self.rights(recid)
        policy.require_read_record(principal, rights, self.now(), recid=recid)
        return target

    def require_files(self, principal: Principal, recid: int) -> int:
        """The version ``recid`` names, if ``principal`` may read its bytes (404, 401 or 403 otherwise)."""
        target, rights = self.rights(recid)
        policy.require_read_files(principal, rights, self.now(), recid=recid)
        return target

    def may_read_record(self, principal: Principal, metadata: dict[str, Any] | None) -> bool:
        return policy.can_read_record(principal, rights_of(metadata), self.now())

    def state(self, metadata: dict[str, Any] | None) -> tuple[str, str]:
        """(``open``|``embargoed``|``restricted``, the sentence record pages show) now."""
        return rights_of(metadata).state(self.now())

    def hidden_recids(self, principal: Principal) -> frozenset[int]:
        """The versions whose metadata ``principal`` may not see now (searches and OAI-PMH leave them out).

        Only records whose ``access.record`` is ``restricted`` are read (one JSON-path condition on both
        databases); the clock and the principal's groups decide among those."""
        now = self.now()
        # Spelled as the partial index ix_records_restricted's predicate, so the database reads that index (a
        # few rows) instead of every version's metadata.
        restricted = text(RESTRICTED_SQL[self.db.dialect])
        with self.db.reader() as s:
            rows = s.execute(select(Record.recid, Record.data["access"]).where(restricted)).all()
        return frozenset(
            recid for recid, access in rows if not policy.can_read_record(principal, rights_of({"access": access}), now)
        )

    def restricted_recids(self) -> Iterator[tuple[int, AccessRights]]:
        """Every version that declares access rights other than the default (few: a scan of their metadata)."""
        with self.db.reader() as s:
            for recid, data in s.execute(select(Record.recid, Record.data).order_by(Record.recid)):
                rights = rights_of(data)
                if rights != AccessRights():
                    yield recid, rights


@dataclass(frozen=True)
class Placed:
    recid: int
    restricted: bool  # where the files now are: the restricted directory (True) or the public data directory
    moved: int  # files moved by this call (0 when everything already was where it belongs)


class Placement:
    """Keeps each record's bytes where its access rights say: restricted ones under ``restricted`` (not exported
    by XRootD), the others under ``public`` (the data directory XRootD exports). Both are local storages."""

    def __init__(self, db: Database, guard: AccessGuard, public: Storage, restricted: Storage) -> None:
        self.db = db
        self.guard = guard
        self.public = public
        self.restricted = restricted

    def _paths(self, recid: int) -> list[str]:
        with self.db.reader() as s:
            uris = s.scalars(select(File.uri).where(File.recid == recid)).all()
        return sorted({p for u in uris if u and (p := self.public.path_of_url(u)) is not None})

    def place(self, recid: int) -> Placed:
        """Move the files of ``recid`` to the side its rights call for now. Idempotent; a file missing on both
        sides is left alone (it may live on another storage)."""
        target, rights = self.guard.rights(recid)
        closed = rights.files_restricted(self.guard.now()) or rights.record_restricted(self.guard.now())
        source, dest = (self.public, self.restricted) if closed else (self.restricted, self.public)
        moved = 0
        for path in self._paths(target):
            src = source.local_path(path)
            if src is None or not os.path.isfile(src):
                continue  # already on its side, or not on a local disk at all
            dst = dest.local_path(path)
            if dst is None:
                raise Invalid(N_("restricted files can be placed only with local storage"), field="storage_backend")
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            # A rename is atomic on one filesystem; across filesystems shutil.move copies, then removes.
            shutil.move(src, dst)
            moved += 1
        return Placed(target, closed, moved)

    def place_all(self) -> list[Placed]:
        """Place every record that declares access rights (ended embargoes go back to the public export)."""
        return [self.place(recid) for recid, _ in list(self.guard.restricted_recids())]


def check_outside(restricted_dir: str, data_dir: str) -> None:
    """Refuse a restricted directory inside the publicly exported data directory (or the other way round)."""
    r, d = Path(restricted_dir).resolve(), Path(data_dir).resolve()
    if r == d or d in r.parents or r in d.parents:
        raise Invalid(
            N_("restricted_dir {r} must lie outside data_dir {d} (which XRootD exports to anyone)"),
            r=r,
            d=d,
            field="PORTAL_RESTRICTED_DIR",
        )
