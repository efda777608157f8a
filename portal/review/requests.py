"""Review requests: a draft submitted to a curated collection waits for one of its curators, who accepts it (the
draft is published as the publish action does) or declines it with a comment (the draft is editable again);
its owner may cancel it and resubmit. Each transition is a `review_events` row and an audit-log event, written in
the transaction that changes the state (an accepted request's in the publishing transaction itself)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.catalog.results import RecordView
from portal.db.engine import Database
from portal.db.paging import page_of
from portal.deposit.models import Upload
from portal.deposit.service import DepositService
from portal.errors import Conflict, Invalid, NotFound, Unauthorized
from portal.i18n import N_
from portal.identity import policy
from portal.identity.audit import AuditLog
from portal.identity.principal import Principal
from portal.review.collections import CollectionInfo, CollectionService, collection_in
from portal.review.models import ReviewEvent, ReviewRequest

STATES = ("submitted", "accepted", "declined", "cancelled")
COMMENT_MAX = 10_000


@dataclass(frozen=True)
class ReviewEventInfo:
    at: datetime
    actor: str
    action: str
    comment: str


@dataclass(frozen=True)
class RequestInfo:
    id: int
    recid: int
    title: str
    collection: CollectionInfo
    owner_id: int | None
    state: str
    created_at: datetime
    updated_at: datetime
    events: tuple[ReviewEventInfo, ...]

    @property
    def last_comment(self) -> str:
        """The comment of the latest transition that has one (a decline's reason, for the owner's page)."""
        for event in reversed(self.events):
            if event.comment:
                return event.comment
        return ""


@dataclass(frozen=True)
class Outcome:
    """What the publish action did: published the draft, or submitted it for review."""

    record: RecordView | None = None
    request: RequestInfo | None = None
    #: a large deposit's publication queued as this job (the version is published when it ends)
    job: int | None = None


def _curator_of(target: CollectionInfo) -> Callable[[Principal, int | None], None]:
    """The publishing rule of a curator's decision (checked by `_decidable` or `is_curator` first): the review's
    scope, not the site's publishing role."""
    return lambda who, _owner: policy.require_review(who, is_curator=True, collection=target.slug)


def _comment(value: Any, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > COMMENT_MAX or "\x00" in value:
        raise Invalid(N_("`comment` is text of at most {n} characters"), n=COMMENT_MAX, field="comment")
    if required and not value.strip():
        raise Invalid(N_("say why in a `comment`: the owner reads it to fix the draft"), field="comment")
    return value.strip()


class ReviewService:
    def __init__(
        self,
        db: Database,
        deposit: DepositService,
        collections: CollectionService,
        audit: AuditLog,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.deposit = deposit
        self.collections = collections
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------------------------------- targets
    def target(self, view: RecordView, collection: str | None = None) -> CollectionInfo | None:
        """The curated collection a draft goes to: ``collection`` when given (it must exist), else the one its
        metadata's `collections` names (None: none, an uncurated one, or names that are not the portal's)."""
        if collection is not None:
            chosen = self.collections.get(collection)
            return chosen if chosen.curated else None
        curated = [c for c in self.collections.named(list(view.metadata.get("collections") or [])) if c.curated]
        if len(curated) > 1:
            raise Invalid(
                N_("a draft goes to one curated collection for review; it names {names}"),
                names=", ".join(c.slug for c in curated),
                field="collections",
            )
        return curated[0] if curated else None

    def submit_choices(self, actor: Principal) -> list[CollectionInfo]:
        """The curated collections a draft of ``actor``'s may be submitted to from its page: those ``actor`` does
        not curate (a curator of one publishes into it)."""
        return [c for c in self.collections.all() if c.curated and not c.is_curator(actor)]

    def _name_collection(self, view: RecordView, slug: str | None, actor: Principal) -> RecordView:
        """Add ``slug`` to the draft's `collections` (so the published record shows it), when not there yet."""
        if slug is None:
            return view
        self.collections.get(slug)  # NotFound naming `collection` before anything changes
        named = list(view.metadata.get("collections") or [])
        if slug in named:
            return view
        metadata = {k: v for k, v in view.metadata.items() if k not in ("recid", "files", "index_files")}
        return self.deposit.update(view.recid, {**metadata, "collections": [*named, slug]}, actor=actor)

    # ------------------------------------------------------------------------------------------- publish / submit
    def publish(
        self,
        recid: int,
        *,
        actor: Principal,
        collection: str | None = None,
        submit: bool = True,
        queue_large: bool = False,
    ) -> Outcome:
        """The publish action: a draft going to a curated collection is submitted for review unless ``actor``
        curates that collection (then it is published, and an open request of it is accepted); any other draft
        is published by the site's rule (`deposit_owners_publish`). ``submit=False`` (Zenodo's API, which has
        no requests) refuses what would be submitted instead (Conflict naming `collection`). ``queue_large``: a
        large deposit is queued as a job (`DepositService.queue_publish`; the pages and the JSON API, whose 202
        can name the job), a curator's publication too: the job closes the open request when it publishes."""
        view = self.deposit.catalog.get(recid, include_drafts=True)
        if view.status == "draft" and collection is not None:
            view = self._name_collection(view, collection, actor)
        target = self.target(view) if view.status == "draft" else None
        if target is None:
            job = self.deposit.queue_publish(recid, actor=actor) if queue_large else None
            if job is not None:
                return Outcome(job=job)
            return Outcome(record=self.deposit.publish(recid, actor=actor))
        if not target.is_curator(actor):
            if not submit:
                raise Conflict(
                    N_(
                        "draft {recid} goes to the curated collection {slug!r}: submit it for review "
                        "(POST /api/records/{recid}/draft/actions/submit-review)"
                    ),
                    recid=recid,
                    slug=target.slug,
                    field="collection",
                )
            return Outcome(request=self.submit(recid, actor=actor))
        authorize = _curator_of(target)
        if queue_large:
            job = self.deposit.queue_publish(recid, actor=actor, authorize=authorize, review={"close": True})
            if job is not None:
                return Outcome(job=job)
        record = self.deposit.publish(
            recid, actor=actor, authorize=authorize, also=lambda s: self._close_open(s, recid, actor)
        )
        return Outcome(record=record)

    def submit(self, recid: int, *, actor: Principal, collection: str | None = None) -> RequestInfo:
        """Submit (or resubmit) a draft to its curated collection. Refused: no curated collection named (Invalid
        naming `collection`), not a draft or already submitted (Conflict naming `state`), a file not committed
        (Conflict naming `key`), someone not its owner (Forbidden)."""
        view = self.deposit.catalog.get(recid, include_drafts=True)
        if not actor.authenticated:
            raise Unauthorized(N_("sign in to submit a draft for review"), field="user")
        policy.require_submit_review(actor, view.owner_id, recid)
        if view.status != "draft":
            raise Conflict(N_("only a draft is submitted for review"), record=recid, field="state")
        view = self._name_collection(view, collection, actor)
        target = self.target(view)
        if target is None:
            raise Invalid(
                N_("name a curated collection to submit to (`collection`); collections: {names}"),
                names=", ".join(c.slug for c in self.collections.all() if c.curated) or "none",
                field="collection",
            )
        with self.db.transaction() as s:
            pending = s.scalar(select(Upload.key).where(Upload.recid == recid, Upload.status != "completed"))
            if pending is not None:
                raise Conflict(
                    N_("file {key!r} is not committed; commit or delete it before submitting"),
                    key=pending,
                    record=recid,
                    field="key",
                )
            open_ = s.scalar(
                select(ReviewRequest).where(ReviewRequest.recid == recid, ReviewRequest.state == "submitted")
            )
            if open_ is not None:
                raise Conflict(
                    N_("draft {recid} is under review already (request {id})"), recid=recid, id=open_.id, field="state"
                )
            row = s.scalar(
                select(ReviewRequest).where(ReviewRequest.recid == recid, ReviewRequest.collection_id == target.id)
            )
            moment = self.now()
            if row is None:
                row = ReviewRequest(
                    recid=recid, collection_id=target.id, owner_id=view.owner_id, created_at=moment, state="submitted"
                )
                s.add(row)
            row.state = "submitted"
            row.title = str(view.metadata.get("title") or "")
            row.updated_at = moment
            s.flush()
            self._event(s, row, actor, "submit", "")
            return self._info(s, row, target)

    # ------------------------------------------------------------------------------------------- decisions
    def accept(self, request_id: int, *, actor: Principal, comment: Any = None, queue_large: bool = False) -> Outcome:
        """A curator of the request's collection accepts it: the draft is published exactly as the publish action
        publishes (files placed and ingested, DOI), and the request becomes `accepted` in that transaction.

        ``queue_large``: a large deposit (as `DepositService.queue_publish` counts) is published by a
        `deposit.publish` job instead of the request (the outcome names it; the request stays `submitted`, closed
        to other decisions, until the job publishes and accepts it in one transaction, or fails and leaves both)."""
        text = _comment(comment, required=False)
        row, target = self._decidable(request_id, actor)
        if queue_large:
            decided = {"request": request_id, "comment": text}
            job = self.deposit.queue_publish(row.recid, actor=actor, authorize=_curator_of(target), review=decided)
            if job is not None:
                return Outcome(request=self.get(request_id, actor=actor), job=job)
        record = self._publish_accepted(request_id, row.recid, target, actor, text)
        return Outcome(request=self.get(request_id, actor=actor), record=record)

    def publish_queued(
        self,
        recid: int,
        review: dict[str, Any],
        *,
        actor: Principal,
        folder: str,
        progress: Callable[[str, int], None],
    ) -> RecordView:
        """What a `deposit.publish` job queued by a curator runs (``review`` as :meth:`accept` or :meth:`publish`
        queued it): the curator's right checked again (it may have been lost meanwhile), then the publication with
        the request's acceptance in its transaction."""
        if "request" in review:
            request_id = int(review["request"])
            found = self._load(request_id)  # not `get`: a curator who lost the right learns that, not "no request"
            decided = found.collection
            policy.require_review(actor, is_curator=decided.is_curator(actor), collection=decided.slug)
            if found.state != "submitted" or found.recid != recid:
                raise Conflict(N_("request {id} is no longer submitted"), id=request_id, field="state")
            text = str(review.get("comment") or "")
            return self._publish_accepted(request_id, recid, decided, actor, text, folder=folder, progress=progress)
        view = self.deposit.catalog.get(recid, include_drafts=True)
        target = self.target(view) if view.status == "draft" else None
        if target is None:  # published meanwhile (publish refuses it) or no longer for a curated collection
            return self.deposit.publish(recid, actor=actor, folder=folder, progress=progress)
        # a curator who queued it and no longer curates the collection is refused (Forbidden naming `curator`)
        policy.require_review(actor, is_curator=target.is_curator(actor), collection=target.slug)
        return self.deposit.publish(
            recid,
            actor=actor,
            authorize=_curator_of(target),
            also=lambda s: self._close_open(s, recid, actor),
            folder=folder,
            progress=progress,
        )

    def _publish_accepted(
        self,
        request_id: int,
        recid: int,
        target: CollectionInfo,
        actor: Principal,
        text: str,
        *,
        folder: str | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> RecordView:
        def accepted(s: Session) -> None:
            fresh = s.get(ReviewRequest, request_id, with_for_update=True)
            if fresh is None or fresh.state != "submitted":  # another curator decided meanwhile
                raise Conflict(N_("request {id} is no longer submitted"), id=request_id, field="state")
            self._transition(s, fresh, actor, "accept", "accepted", text)

        return self.deposit.publish(
            recid, actor=actor, authorize=_curator_of(target), also=accepted, folder=folder, progress=progress
        )

    def decline(self, request_id: int, *, actor: Principal, comment: Any = None) -> RequestInfo:
        text = _comment(comment, required=True)
        self._decidable(request_id, actor)
        return self._change(request_id, actor, "decline", "declined", text)

    def cancel(self, request_id: int, *, actor: Principal, comment: Any = None) -> RequestInfo:
        text = _comment(comment, required=False)
        found = self.get(request_id, actor=actor)
        policy.require_cancel_review(actor, found.owner_id)
        return self._change(request_id, actor, "cancel", "cancelled", text)

    def _decidable(self, request_id: int, actor: Principal) -> tuple[RequestInfo, CollectionInfo]:
        found = self.get(request_id, actor=actor)
        policy.require_review(actor, is_curator=found.collection.is_curator(actor), collection=found.collection.slug)
        if found.state != "submitted":
            raise Conflict(
                N_("request {id} is {state}; only a submitted request is decided"),
                id=request_id,
                state=found.state,
                field="state",
            )
        return found, found.collection

    def _change(self, request_id: int, actor: Principal, action: str, state: str, comment: str) -> RequestInfo:
        with self.db.transaction() as s:
            row = s.get(ReviewRequest, request_id, with_for_update=True)
            if row is None:
                raise NotFound(N_("there is no request {id}"), id=request_id, field="request")
            # an accepted request whose publication job runs is decided: it is not declined nor cancelled under it
            self.deposit.require_not_publishing(row.recid)
            if row.state != "submitted":
                raise Conflict(
                    N_("request {id} is {state}; only a submitted request changes"),
                    id=request_id,
                    state=row.state,
                    field="state",
                )
            self._transition(s, row, actor, action, state, comment)
            return self._info(s, row, collection_in(s, row.collection_id))

    def _close_open(self, s: Session, recid: int, actor: Principal) -> None:
        """A curator publishing their collection's draft directly accepts its open request, if any."""
        for row in s.scalars(
            select(ReviewRequest).where(ReviewRequest.recid == recid, ReviewRequest.state == "submitted")
        ):
            self._transition(s, row, actor, "accept", "accepted", "")

    def _transition(
        self, s: Session, row: ReviewRequest, actor: Principal, action: str, state: str, comment: str
    ) -> None:
        row.state = state
        row.updated_at = self.now()
        self._event(s, row, actor, action, comment)

    def _event(self, s: Session, row: ReviewRequest, actor: Principal, action: str, comment: str) -> None:
        seq = s.scalar(select(func.count()).select_from(ReviewEvent).where(ReviewEvent.request_id == row.id)) or 0
        s.add(
            ReviewEvent(
                request_id=row.id,
                at=self.now(),
                actor_id=actor.user_id,
                actor=actor.label[:64],
                action=action,
                comment=comment,
                seq=seq,
            )
        )
        detail = {"recid": row.recid, "comment": comment[:500]} if comment else {"recid": row.recid}
        self.audit.add(actor, f"review.{action}", f"request {row.id}", detail, session=s)

    # ------------------------------------------------------------------------------------------- reading
    def get(self, request_id: int, *, actor: Principal) -> RequestInfo:
        """A request its owner, its collection's curators and admins see; 404 for anyone else."""
        info = self._load(request_id)
        if not self._may_see(actor, info):
            if not actor.authenticated:
                raise Unauthorized(N_("sign in to see review requests"), field="user")
            raise NotFound(N_("there is no request {id}"), id=request_id, field="request")
        return info

    def _load(self, request_id: int) -> RequestInfo:
        with self.db.reader() as s:
            row = s.get(ReviewRequest, request_id)
            if row is None:
                raise NotFound(N_("there is no request {id}"), id=request_id, field="request")
            return self._info(s, row, collection_in(s, row.collection_id))

    def find(
        self,
        *,
        actor: Principal,
        state: str | None = None,
        collection: str | None = None,
        mine: bool = False,
        page: int = 1,
        size: int = 20,
    ) -> tuple[list[RequestInfo], int]:
        """Requests ``actor`` may see, newest change first: their own and those of the collections they curate
        (admins and the command line: all; ``mine``: only their own)."""
        if not actor.authenticated:
            raise Unauthorized(N_("sign in to see review requests"), field="user")
        if state is not None and state not in STATES:
            raise Invalid(N_("`state` is one of {states}"), states=", ".join(STATES), field="state")
        query = select(ReviewRequest)
        everything = actor.via == "cli" or "admin" in actor.scopes
        if mine or not everything:
            curated = [] if mine else [c.id for c in self.collections.curated_by(actor)]
            query = query.where(or_(ReviewRequest.owner_id == actor.user_id, ReviewRequest.collection_id.in_(curated)))
        if state is not None:
            query = query.where(ReviewRequest.state == state)
        if collection is not None:
            query = query.where(ReviewRequest.collection_id == self.collections.get(collection).id)
        with self.db.reader() as s:
            order = (ReviewRequest.updated_at.desc(), ReviewRequest.id.desc())
            rows, total = page_of(s, query, *order, page=page, size=size)
            by_id: dict[int, CollectionInfo] = {}
            items = []
            for row in rows:
                if row.collection_id not in by_id:
                    by_id[row.collection_id] = collection_in(s, row.collection_id)
                items.append(self._info(s, row, by_id[row.collection_id]))
        return items, total

    def of_records(self, recids: list[int]) -> dict[int, RequestInfo]:
        """The latest request of each draft in ``recids`` (the owner's uploads page shows its state)."""
        if not recids:
            return {}
        found: dict[int, RequestInfo] = {}
        with self.db.reader() as s:
            rows = s.scalars(
                select(ReviewRequest).where(ReviewRequest.recid.in_(recids)).order_by(ReviewRequest.updated_at)
            )
            for row in rows:
                found[row.recid] = self._info(s, row, collection_in(s, row.collection_id))
        return found

    @staticmethod
    def _may_see(actor: Principal, info: RequestInfo) -> bool:
        if actor.via == "cli" or "admin" in actor.scopes:
            return True
        return actor.user_id is not None and (actor.user_id == info.owner_id or info.collection.is_curator(actor))

    @staticmethod
    def _info(s: Session, row: ReviewRequest, collection: CollectionInfo) -> RequestInfo:
        events = s.scalars(
            select(ReviewEvent).where(ReviewEvent.request_id == row.id).order_by(ReviewEvent.seq, ReviewEvent.id)
        )
        return RequestInfo(
            row.id,
            row.recid,
            row.title,
            collection,
            row.owner_id,
            row.state,
            row.created_at,
            row.updated_at,
            tuple(ReviewEventInfo(e.at, e.actor, e.action, e.comment) for e in events),
        )
