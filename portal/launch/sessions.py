"""Launches as sessions of their own: who started what, how it went (for "my sessions"), and the per-user and
per-client quotas on launches starting at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from portal.db.engine import Database
from portal.db.models import LaunchSession
from portal.db.paging import page_of
from portal.environments.builders import TEXT_KEY, localized_event
from portal.errors import Translate
from portal.identity.policy import require_quota
from portal.identity.principal import Principal

if TYPE_CHECKING:
    from portal.launch.manager import LaunchJob

#: a launch still "starting" after this long is taken as lost (the portal restarted mid-launch) and no longer
#: counts against a quota
STALE_AFTER = timedelta(hours=1)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class SessionInfo:
    id: int
    label: str
    recid: int | None
    state: str  # starting | ready | failed
    url: str | None
    message: str | None
    started_at: datetime
    finished_at: datetime | None
    #: ``message`` as a message id and values (an event's stored text), None when it was recorded as text only
    message_text: dict[str, Any] | None = None

    def localized_reason(self, translate: Translate) -> str:
        """Why it failed, in the language of ``translate`` when it was kept as a message id (pages' filter)."""
        return str(localized_event({"message": self.message or "", TEXT_KEY: self.message_text}, translate)["message"])


def _info(row: LaunchSession) -> SessionInfo:
    return SessionInfo(
        row.id,
        row.label,
        row.recid,
        row.state,
        row.url,
        row.message,
        _aware(row.started_at) or row.started_at,
        _aware(row.finished_at),
        dict(row.message_text) if row.message_text else None,
    )


class LaunchSessions:
    """Records launches and enforces ``quota_launches_per_user`` / ``quota_launches_anonymous`` (0: no limit)."""

    def __init__(
        self,
        db: Database,
        *,
        per_user: int = 0,
        anonymous: int = 0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.per_user = per_user
        self.anonymous = anonymous
        self.now = now or (lambda: datetime.now(UTC))
        self._watchers: list[threading.Thread] = []

    def close(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout`` seconds in all) for the launches being followed to end and be recorded."""
        deadline = time.monotonic() + timeout
        for thread in self._watchers:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def anonymous_allowed(self) -> bool:
        return self.anonymous >= 0

    def begin(self, principal: Principal, client: str, label: str, recid: int | None) -> int:
        """Record a launch as starting and return its id; QuotaExceeded (429, naming the quota setting) when its
        owner (a signed-in user, else the client address) has as many launches starting as allowed."""
        with self.db.transaction() as s:
            starting = (
                select(func.count())
                .select_from(LaunchSession)
                .where(LaunchSession.state == "starting", LaunchSession.started_at > self.now() - STALE_AFTER)
            )
            if principal.user_id is not None:
                used = s.scalar(starting.where(LaunchSession.owner_id == principal.user_id)) or 0
                require_quota("quota_launches_per_user", used, self.per_user, what="launches starting")
            else:
                used = s.scalar(starting.where(LaunchSession.owner_id.is_(None), LaunchSession.client == client)) or 0
                require_quota("quota_launches_anonymous", used, self.anonymous, what="launches starting")
            row = LaunchSession(
                owner_id=principal.user_id,
                client=client[:64],
                label=label,
                recid=recid,
                state="starting",
                started_at=self.now(),
            )
            s.add(row)
            s.flush()
            return row.id

    def finish(
        self,
        session_id: int,
        state: str,
        *,
        url: str | None = None,
        message: str | None = None,
        message_text: dict[str, Any] | None = None,
        recid: int | None = None,
    ) -> None:
        """Record how launch ``session_id`` ended (``ready`` or ``failed``); a finished one stays as it is.
        ``message_text``: ``message`` as a message id and values (an event's, :meth:`BuildEvent.failure`)."""
        assert state in ("ready", "failed"), state
        with self.db.transaction() as s:
            row = s.get(LaunchSession, session_id)
            if row is not None and row.state == "starting":
                row.state, row.url, row.message, row.finished_at = state, url, message, self.now()
                row.message_text = message_text
                row.recid = recid if recid is not None else row.recid

    def follow(self, session_id: int, job: LaunchJob) -> threading.Thread:
        """Watch ``job`` in a thread and record how it ended, whether or not anyone reads its event stream."""

        def watch() -> None:
            last: dict[str, object] = {}
            try:
                for event in job.stream(heartbeat=30.0):
                    if event is not None:
                        last = event
            finally:
                ready = last.get("phase") == "ready"
                url = last.get("url")
                self.finish(
                    session_id,
                    "ready" if ready else "failed",
                    url=str(url) if ready and url else None,
                    message=str(last.get("message") or "") or None,
                    message_text=_text_of(last),
                    recid=job.recid,
                )

        thread = threading.Thread(target=watch, daemon=True, name=f"launch-session-{session_id}")
        self._watchers = [t for t in self._watchers if t.is_alive()] + [thread]
        thread.start()
        return thread

    def of_owner(self, user_id: int, *, page: int = 1, size: int = 20) -> tuple[list[SessionInfo], int]:
        """The launches of ``user_id``, newest first, and how many there are."""
        mine = select(LaunchSession).where(LaunchSession.owner_id == user_id)
        with self.db.reader() as s:
            rows, total = page_of(s, mine, LaunchSession.id.desc(), page=page, size=size)
            return [_info(r) for r in rows], total


def _text_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """An event's message as a message id and values (what :meth:`LaunchSessions.finish` keeps), if it has one."""
    text = event.get(TEXT_KEY)
    return dict(text) if isinstance(text, dict) else None
