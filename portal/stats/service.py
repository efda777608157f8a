"""Recording usage events off the request path, and counting them the way COUNTER and Zenodo count.

- Robots (COUNTER robots list, package `counter-robots`) are dropped; scripts ("machines") are counted
  and flagged.
- Visitors are identified only by sha256(daily salt, IP, user agent); the salt changes every UTC day and
  old salts are deleted, so no IP is stored and hashes of different days cannot be linked.
- Double clicks: an event of the same visitor on the same item (record, kind, file) within 30 s of the
  previous one is merged into it.
- Unique: one per visitor per record (or concept) per hour.
- Aggregates per hour, per version and per concept ("this version" / "all versions"). Each run recounts
  the hours that may still change, from raw events, so running it twice gives the same numbers.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import logging
import secrets
import threading
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import combinations
from typing import Any

from counter_robots import is_machine, is_robot
from sqlalchemy import Subquery, delete, func, insert, select
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.db.models import Record
from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.stats.models import CoDownload, StatsAggregate, StatsSalt, StatsState, UsageEvent

log = logging.getLogger(__name__)

KINDS = ("view", "download", "launch")
DOUBLE_CLICK = timedelta(seconds=30)
HOUR = timedelta(hours=1)


@lru_cache(maxsize=4096)
def classify_agent(user_agent: str) -> str:
    """ "robot", "machine" or "regular" for a User-Agent string (cached: agents repeat a lot)."""
    # The robot list also matches scripts; COUNTER counts those as "machine" access, so test them first.
    if user_agent.strip() and is_machine(user_agent):
        return "machine"
    if not user_agent.strip() or is_robot(user_agent):
        return "robot"
    return "regular"


@dataclass(frozen=True)
class Hit:
    """What the request thread hands over: raw, never stored as such (IP and agent are hashed away)."""

    kind: str
    recid: int
    ip: str
    user_agent: str
    at: datetime
    file_key: str = ""
    bytes: int = 0


@dataclass
class Counts:
    events: int = 0
    unique_visitors: int = 0
    volume: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"events": self.events, "unique": self.unique_visitors, "volume": self.volume}


@dataclass
class RecordStats:
    recid: int
    concept_recid: int
    version: dict[str, Counts] = field(default_factory=dict)
    all_versions: dict[str, Counts] = field(default_factory=dict)
    last_aggregated: datetime | None = None


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class StatsService:
    """Buffered recording (a queue drained by one background thread) and hourly aggregation."""

    def __init__(self, db: Database, *, flush_interval: float = 1.0, batch: int = 1000, enabled: bool = True) -> None:
        self.db = db
        self.enabled = enabled
        self.flush_interval = flush_interval
        self.batch = batch
        self._queue: deque[Hit] = deque()
        # Readings keyed by the aggregation they came from: aggregates change only when an aggregation runs (in
        # any process), so a record page reads one row to know its cached statistics are still current.
        self._readings: OrderedDict[tuple[str, int, int], tuple[object, Any]] = OrderedDict()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._salts: dict[date, str] = {}
        self._concepts: dict[int, int] = {}
        self.dropped_robots = 0

    # ---------------------------------------------------------------- recording
    def record(
        self,
        kind: str,
        recid: int,
        *,
        ip: str,
        user_agent: str,
        file_key: str = "",
        nbytes: int = 0,
        at: datetime | None = None,
    ) -> None:
        """Queue one event; returns at once (a deque append). Never raises into the request."""
        if kind not in KINDS:
            raise Invalid(N_("unknown event kind {kind!r}"), kind=kind, field="kind")
        if not self.enabled:
            return
        self._queue.append(
            Hit(kind, recid, ip or "", user_agent or "", _utc(at or datetime.now(UTC)), file_key, nbytes)
        )
        if self._thread is None:
            self._start()
        if len(self._queue) >= self.batch:
            self._wake.set()

    def _start(self) -> None:
        with self._flush_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stats-flusher", daemon=True)
                self._thread.start()
                # Queued events are written when the process exits normally (e.g. a gunicorn worker stopping).
                atexit.register(self._close_at_exit)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep counting after a database hiccup; events stay queued
                log.exception("flushing usage events failed; will retry")

    def flush(self) -> int:
        """Write every queued event now; returns how many were stored (robots are dropped)."""
        stored = 0
        with self._flush_lock:
            while self._queue:
                hits = [self._queue.popleft() for _ in range(min(len(self._queue), 5000))]
                try:
                    stored += self._store(hits)
                except Exception:
                    self._queue.extendleft(reversed(hits))  # loses nothing: retried on the next flush
                    raise
        return stored

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # the database may already be gone at interpreter exit
            log.warning("could not write %d queued usage event(s) at exit", len(self._queue))

    def close(self) -> None:
        if self._stop.is_set() and not self._queue:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()

    def _store(self, hits: list[Hit]) -> int:
        rows = []
        with self.db.transaction() as s:
            for hit in hits:
                agent = classify_agent(hit.user_agent)
                if agent == "robot":
                    self.dropped_robots += 1
                    continue
                concept = self._concept(s, hit.recid)
                if concept is None:
                    continue
                salt = self._salt(s, hit.at.date())
                visitor = hashlib.sha256(f"{salt}|{hit.ip}|{hit.user_agent}".encode()).hexdigest()[:32]
                rows.append(
                    {
                        "kind": hit.kind,
                        "recid": hit.recid,
                        "concept_recid": concept,
                        "file_key": hit.file_key[:512],
                        "bytes": hit.bytes,
                        "visitor": visitor,
                        "machine": agent == "machine",
                        "created_at": hit.at,
                    }
                )
            if rows:
                s.execute(insert(UsageEvent), rows)
        return len(rows)

    def _concept(self, s: Any, recid: int) -> int | None:
        if recid not in self._concepts:
            concept = s.scalar(select(Record.concept_recid).where(Record.recid == recid))
            if concept is None:
                return None
            self._concepts[recid] = concept
        return self._concepts[recid]

    def _salt(self, s: Any, day: date) -> str:
        if day not in self._salts:
            salt = s.scalar(select(StatsSalt.salt).where(StatsSalt.day == day))
            if salt is None:
                salt = secrets.token_hex(32)
                s.add(StatsSalt(day=day, salt=salt))
                s.flush()
                s.execute(delete(StatsSalt).where(StatsSalt.day < day - timedelta(days=1)))
            self._salts = {d: v for d, v in self._salts.items() if d >= day - timedelta(days=1)}
            self._salts[day] = salt
        return self._salts[day]

    # -------------------------------------------------------------- aggregation
    def aggregate(self, now: datetime | None = None) -> int:
        """Recount every hour that may still change, up to ``now``; returns the number of hours counted.

        An hour is final once `now` is past its end by the double-click window plus a flush interval;
        until then it is recounted on every run, so numbers shown are never more than one run old.
        """
        now = _utc(now or datetime.now(UTC))
        grace = DOUBLE_CLICK + timedelta(seconds=max(self.flush_interval, 1) * 5)
        with self.db.transaction() as s:
            state = s.get(StatsState, "open_from")
            if state is not None:
                start = _utc(state.value)
            else:
                first = s.scalar(select(func.min(UsageEvent.created_at)))
                start = _hour(_utc(first)) if first is not None else _hour(now)
            hours = 0
            hour = start
            while hour <= _hour(now):
                self._count_hour(s, hour)
                hours += 1
                hour += HOUR
            final_until = _hour(now - grace)  # hours strictly before this are final
            open_from = max(start, final_until)
            for key, value in (("open_from", open_from), ("last_run", now)):
                row = s.get(StatsState, key)
                if row is None:
                    s.add(StatsState(key=key, value=value))
                else:
                    row.value = value
        return hours

    def _count_hour(self, s: Any, hour: datetime) -> None:
        s.execute(delete(StatsAggregate).where(StatsAggregate.hour == hour))
        s.execute(delete(CoDownload).where(CoDownload.hour == hour))
        events = s.execute(
            select(
                UsageEvent.visitor,
                UsageEvent.kind,
                UsageEvent.recid,
                UsageEvent.concept_recid,
                UsageEvent.file_key,
                UsageEvent.bytes,
                UsageEvent.created_at,
            )
            .where(UsageEvent.created_at >= hour - DOUBLE_CLICK, UsageEvent.created_at < hour + HOUR)
            .order_by(UsageEvent.created_at, UsageEvent.id)
        ).all()
        counts: dict[tuple[str, int, str], Counts] = defaultdict(Counts)
        visitors: dict[tuple[str, int, str], set[str]] = defaultdict(set)
        last_seen: dict[tuple[str, str, int, str], datetime] = {}
        downloads_by_visitor: dict[str, set[int]] = defaultdict(set)
        for visitor, kind, recid, concept, file_key, nbytes, created in events:
            created = _utc(created)
            item = (visitor, kind, recid, file_key)
            previous = last_seen.get(item)
            last_seen[item] = created
            if created < hour:
                continue  # look-back only: lets a double click across the hour boundary merge
            for scope, rid in (("version", recid), ("concept", concept)):
                counts[(scope, rid, kind)].volume += nbytes
            if previous is not None and created - previous <= DOUBLE_CLICK:
                continue
            for scope, rid in (("version", recid), ("concept", concept)):
                counts[(scope, rid, kind)].events += 1
                visitors[(scope, rid, kind)].add(visitor)
            if kind == "download":
                downloads_by_visitor[visitor].add(concept)
        rows = [
            {
                "scope": scope,
                "recid": rid,
                "kind": kind,
                "hour": hour,
                "events": c.events,
                "unique_visitors": len(visitors[(scope, rid, kind)]),
                "volume": c.volume,
            }
            for (scope, rid, kind), c in counts.items()
        ]
        if rows:
            s.execute(insert(StatsAggregate), rows)
        pairs: dict[tuple[int, int], int] = defaultdict(int)
        for concepts in downloads_by_visitor.values():
            for a, b in combinations(sorted(concepts), 2):
                pairs[(a, b)] += 1
                pairs[(b, a)] += 1
        if pairs:
            s.execute(
                insert(CoDownload),
                [{"concept_recid": a, "other_recid": b, "hour": hour, "visitors": n} for (a, b), n in pairs.items()],
            )

    # ------------------------------------------------------------------ reading
    def _reading(self, s: Session, key: tuple[str, int, int], compute: Callable[[Any], Any]) -> Any:
        """The cached reading under ``key`` while no aggregation ran since; else ``compute(last_run)``."""
        last = s.get(StatsState, "last_run")
        stamp = last.value if last is not None else None
        hit = self._readings.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = compute(stamp)
        self._readings[key] = (stamp, value)
        while len(self._readings) > 4096:
            self._readings.popitem(last=False)
        return value

    def record_stats(self, recid: int) -> RecordStats:
        """Totals for one version and for its concept (all versions), as of the last aggregation."""
        with self.db.reader() as s:
            return copy.deepcopy(
                self._reading(s, ("stats", recid, 0), lambda last_run: self._record_stats(s, recid, last_run))
            )

    def _record_stats(self, s: Session, recid: int, last_run: datetime | None) -> RecordStats:
        concept = s.scalar(select(Record.concept_recid).where(Record.recid == recid))
        if concept is None:
            raise NotFound(N_("there is no record version {recid}"), recid=recid, record=recid)
        out = RecordStats(recid=recid, concept_recid=concept)
        for scope, rid, target in (("version", recid, out.version), ("concept", concept, out.all_versions)):
            for kind in KINDS:
                target[kind] = Counts()
            for kind, events, unique, volume in s.execute(
                select(
                    StatsAggregate.kind,
                    func.sum(StatsAggregate.events),
                    func.sum(StatsAggregate.unique_visitors),
                    func.sum(StatsAggregate.volume),
                )
                .where(StatsAggregate.scope == scope, StatsAggregate.recid == rid)
                .group_by(StatsAggregate.kind)
            ):
                target[kind] = Counts(int(events or 0), int(unique or 0), int(volume or 0))
        out.last_aggregated = _utc(last_run) if last_run is not None else None
        return out

    def also_downloaded(self, recid: int, limit: int = 5) -> list[tuple[int, int]]:
        """(concept recid, visitors) of concepts most often downloaded by those who downloaded this one."""
        with self.db.reader() as s:
            return list(self._reading(s, ("also", recid, limit), lambda _: self._also_downloaded(s, recid, limit)))

    def _also_downloaded(self, s: Session, recid: int, limit: int) -> list[tuple[int, int]]:
        concept = s.scalar(select(Record.concept_recid).where(Record.recid == recid))
        if concept is None:
            raise NotFound(N_("there is no record version {recid}"), recid=recid, record=recid)
        rows = s.execute(
            select(CoDownload.other_recid, func.sum(CoDownload.visitors).label("n"))
            .where(CoDownload.concept_recid == concept)
            .group_by(CoDownload.other_recid)
            .order_by(func.sum(CoDownload.visitors).desc(), CoDownload.other_recid)
            .limit(limit)
        ).all()
        return [(int(other), int(n)) for other, n in rows]

    def popularity(self, kind: str, concepts: Iterable[int] | None = None) -> dict[int, int]:
        """Unique-visitor totals per concept for ``kind`` (the "most viewed/downloaded" sort keys)."""
        counts = self.popularity_query(kind)
        query = select(counts.c.recid, counts.c.n)
        if concepts is not None:
            query = query.where(counts.c.recid.in_(list(concepts)))
        with self.db.reader() as s:
            return {int(r): int(n or 0) for r, n in s.execute(query)}

    @staticmethod
    def popularity_query(kind: str) -> Subquery:
        """The unique visitors of every concept for ``kind`` ("view", "download", "launch"), summed over all
        hours, as a subquery with the columns ``recid`` (the concept) and ``n``; concepts never used are absent.
        The search's popularity sorts join it to the index (:data:`portal.search.sql.Popularity`)."""
        if kind not in KINDS:
            raise Invalid(N_("unknown event kind {kind!r}"), kind=kind, field="kind")
        return (
            select(StatsAggregate.recid, func.sum(StatsAggregate.unique_visitors).label("n"))
            .where(StatsAggregate.scope == "concept", StatsAggregate.kind == kind)
            .group_by(StatsAggregate.recid)
            .subquery("popularity")
        )
