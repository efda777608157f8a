"""Connected repositories and their release webhooks: connect (the secret shown once), receive a delivery (record
it first, then process it), and :meth:`ReleaseService.process`, the retry-able step that turns a published
release into a new version of the software record.

Processing is a plain method taking a delivery id, run by a `portal worker` (queue kind ``release.delivery``):
the webhook verifies the signature and the checks that need no network at once (a bad signature, an unknown
repository, an event that publishes nothing, a disallowed host are refused in the answer), records the delivery
and queues its processing in one transaction, and answers 202 with the delivery "pending". Without a queue it is
processed synchronously, as before one existed. A failure stays visible (and retry-able) on the repository's page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, delete, or_, select, update

from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import Record
from portal.db.paging import page_of
from portal.errors import Conflict, Invalid, NotFound, Notice, PortalError
from portal.i18n import N_, Plural
from portal.identity import policy
from portal.identity.audit import AuditLog
from portal.identity.principal import Principal
from portal.jobqueue.base import JobQueue
from portal.releases import archives, metadata, signatures
from portal.releases.models import ConnectedRepository, ReleaseDelivery
from portal.releases.outcomes import DeliveryProblem, Refused
from portal.releases.payloads import PROVIDERS, ReleaseEvent, match_url, parse
from portal.releases.results import Connected, DeliveryPage, DeliveryView, RepositoryView

log = logging.getLogger(__name__)

#: who publishes a release's version: the portal itself, on behalf of the repository's owner (who was allowed to
#: publish when connecting it); the audit log names it so
RELEASE_WEBHOOK = Principal(via="cli", username="release-webhook")
DELIVERY_HEADERS = {"github": "x-github-delivery", "gitlab": "x-gitlab-event-uuid", "generic": "x-github-delivery"}
EVENT_HEADERS = {"github": "x-github-event", "gitlab": "x-gitlab-event", "generic": "x-github-event"}
MAX_BODY = 5 * 1024 * 1024
#: processing longer than this is a dead worker's (git's own steps time out after minutes)
STALE = timedelta(hours=1)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ReleaseSettings:
    site_key: str
    git_hosts: list[str]
    allow_http: bool
    max_archive_bytes: int
    data_dir: Path  # archives are written under <data_dir>/releases/ (the directory the portal serves files from)
    work_dir: Path  # temporary clones
    owners_publish: bool = False  # `deposit_owners_publish`: may non-curators connect (their releases publish)
    # deliveries that matched no connected repository are kept for admins (`/admin/deliveries`), bounded: the newest
    # `unmatched_kept`, none older than `unmatched_days` (anyone may post them, so they must not grow without end)
    unmatched_kept: int = 1000  # `releases_unmatched_kept`
    unmatched_days: int = 30  # `releases_unmatched_days`


class ReleaseService:
    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        audit: AuditLog,
        settings: ReleaseSettings,
        *,
        file_uri: Callable[[str], str],
        queue: JobQueue | None = None,
    ) -> None:
        """``file_uri(path)``: the catalogue URI of a file at ``path`` below the data directory; ``queue``: where
        processing waits for a worker (None: processed in the receiving request)."""
        self.queue = queue
        self.db = db
        self.catalog = catalog
        self.audit = audit
        self.settings = settings
        self.file_uri = file_uri

    # ------------------------------------------------------------------ repositories
    def connect(self, actor: Principal, provider: str, url: str, *, recid: int | None = None) -> Connected:
        """Connect ``url`` for ``actor``; the answer carries the webhook secret, shown this once.

        Raises:
            Unauthorized, Forbidden: ``actor`` may not publish (policy).
            Invalid: an unknown provider, a URL that is not http(s) or whose host is not allowed, a record that is
                not a software record.
            NotFound: no record ``recid``. Conflict: the repository is connected already.
        """
        policy.require_connect_repository(actor, owners_publish=self.settings.owners_publish)
        assert actor.user_id is not None
        if provider not in PROVIDERS:
            raise Invalid(N_("provider must be one of {providers}"), providers=", ".join(PROVIDERS), field="provider")
        url = url.strip()
        if not url or len(url) > 500:
            raise Invalid(N_("give the repository's URL (at most 500 characters)"), field="url")
        try:
            archives.check_host(url, self.settings.git_hosts, allow_http=self.settings.allow_http)
        except Refused as exc:
            raise Invalid(exc.template, field="url", **exc.values) from None
        key = match_url(url)
        if not urlsplit(key).path.strip("/"):
            raise Invalid(N_("give the repository's URL, e.g. https://github.com/owner/name"), field="url")
        salt = signatures.new_salt()
        with self.db.transaction() as s:
            if s.scalar(select(ConnectedRepository.id).where(ConnectedRepository.match_url == key)) is not None:
                raise Conflict(N_("this repository is connected already"), field="url")
            if recid is not None:
                rec = s.get(Record, recid)
                if rec is None or rec.status == "removed":
                    raise NotFound(N_("there is no record {recid}"), recid=recid, field="recid")
                if rec.type_primary != "Software":
                    raise Invalid(
                        N_("record {recid} is a {rec_type_primary} record, not Software"),
                        recid=recid,
                        rec_type_primary=rec.type_primary,
                        field="recid",
                    )
                policy.require_new_version(actor, [rec.owner_id])
            repo = ConnectedRepository(
                owner_id=actor.user_id, provider=provider, url=url, match_url=key, recid=recid, secret_salt=salt
            )
            s.add(repo)
            s.flush()
            self.audit.add(actor, "release.connect", f"repository {repo.id}", {"url": url}, session=s)
            view = _repository(repo)
        return Connected(view, signatures.webhook_secret(self.settings.site_key, salt))

    def repositories(self, actor: Principal) -> list[RepositoryView]:
        """The repositories ``actor`` connected (newest first)."""
        policy.require_signed_in(actor)
        with self.db.reader() as s:
            rows = s.scalars(
                select(ConnectedRepository)
                .where(ConnectedRepository.owner_id == actor.user_id)
                .order_by(ConnectedRepository.id.desc())
            )
            return [_repository(r) for r in rows]

    def repository(self, actor: Principal, repository_id: int) -> RepositoryView:
        with self.db.reader() as s:
            return _repository(self._visible(s, actor, repository_id))

    def deliveries(self, actor: Principal, repository_id: int, *, page: int = 1, size: int = 20) -> DeliveryPage:
        """The repository's deliveries, newest first."""
        with self.db.reader() as s:
            self._visible(s, actor, repository_id)
            return _delivery_page(s, ReleaseDelivery.repository_id == repository_id, page, size)

    def rotate_secret(self, actor: Principal, repository_id: int) -> Connected:
        """A new webhook secret for the repository (the old one stops working at once), shown this once."""
        salt = signatures.new_salt()
        with self.db.transaction() as s:
            repo = self._visible(s, actor, repository_id)
            repo.secret_salt = salt
            self.audit.add(actor, "release.secret", f"repository {repo.id}", {"url": repo.url}, session=s)
            view = _repository(repo)
        return Connected(view, signatures.webhook_secret(self.settings.site_key, salt))

    def disconnect(self, actor: Principal, repository_id: int) -> None:
        """Forget the repository and its deliveries (the records it made stay)."""
        with self.db.transaction() as s:
            repo = self._visible(s, actor, repository_id)
            self.audit.add(actor, "release.disconnect", f"repository {repo.id}", {"url": repo.url}, session=s)
            s.delete(repo)

    def _visible(self, s: Any, actor: Principal, repository_id: int) -> ConnectedRepository:
        repo = s.get(ConnectedRepository, repository_id)
        if repo is None:
            policy.require_signed_in(actor)
            raise NotFound(N_("there is no such connected repository"), field="repository")
        policy.require_see_repository(actor, repo.owner_id)
        return repo

    # ------------------------------------------------------------------ deliveries
    def receive(self, provider: str, headers: dict[str, str], body: bytes) -> DeliveryView:
        """Record a webhook delivery, then queue its processing (or process it, without a queue). ``headers``
        have lower-case names.

        A delivery whose signature does not verify is recorded as refused (with the repository it names, so its
        owner sees it) and never processed. A delivery id seen before (a provider's redelivery) answers with the
        first delivery's outcome and changes nothing. One that a check needing no network refuses (not a
        publication, no tag, a disallowed host) is processed at once, so the refusal is in the answer.
        """
        if provider not in PROVIDERS:
            raise NotFound(
                N_("no webhook for provider {provider!r}; known: {providers}"),
                provider=provider,
                providers=", ".join(PROVIDERS),
                field="provider",
            )
        key = (headers.get(DELIVERY_HEADERS[provider]) or "").strip()[:100]
        event_header = (headers.get(EVENT_HEADERS[provider]) or "").strip()[:60]
        if len(body) > MAX_BODY:
            too_large = Refused(N_("the body is larger than 5 MiB"), field="body")
            return self._refused(provider, key, event_header or "unknown", None, too_large)
        try:
            payload = _json_object(body)
            event = parse(provider, event_header, payload)
        except ValueError as exc:
            not_json = Refused(N_("the body is not JSON: {reason}"), reason=str(exc), field="body")
            return self._refused(provider, key, event_header or "unknown", None, not_json)
        with self.db.reader() as s:
            found = None
            for candidate in event.repository_urls:
                found = s.execute(
                    select(ConnectedRepository.id, ConnectedRepository.secret_salt).where(
                        ConnectedRepository.match_url == match_url(candidate)
                    )
                ).first()
                if found is not None:
                    break
        if found is None:
            claimed = [public_url(u) for u in event.repository_urls]
            return self._refused(
                provider,
                key,
                event.event,
                None,
                Refused(
                    N_("unknown repository: {urls} is not connected to this portal"),
                    urls=", ".join(claimed),
                    field="repository",
                )
                if claimed
                else Refused(N_("unknown repository: the payload names none"), field="repository"),
                tag=event.tag,
                claimed=claimed,
            )
        repo_id, salt = found
        secret = signatures.webhook_secret(self.settings.site_key, salt)
        if not signatures.signature_matches(provider, secret, body, headers):
            header = "X-Gitlab-Token" if provider == "gitlab" else "X-Hub-Signature-256"
            return self._refused(
                provider,
                key,
                event.event,
                repo_id,
                Refused(
                    N_("bad signature: the {header} header does not match this repository's webhook secret"),
                    header=header,
                    field=header,
                ),
                tag=event.tag,
            )
        if not key:
            key = "sha256:" + signatures.github_signature(secret, body)[len("sha256=") :]
        with self.db.transaction() as s:
            seen = s.scalar(
                select(ReleaseDelivery).where(ReleaseDelivery.provider == provider, ReleaseDelivery.delivery_key == key)
            )
            if seen is not None:
                return _delivery(seen, replayed=True)
            delivery = ReleaseDelivery(
                repository_id=repo_id,
                provider=provider,
                delivery_key=key,
                event=event.event,
                tag=event.tag,
                outcome="pending",
                reason="",
                attempts=0,
                payload={"event": event_header, "body": payload},
            )
            s.add(delivery)
            s.flush()
            delivery_id = delivery.id
            if self.queue is not None and self._quick_refusal(provider, payload, event_header, repo_id, s) is None:
                self._enqueue(delivery_id, s)
                return _delivery(delivery)
        return self.process(delivery_id)

    def _quick_refusal(
        self, provider: str, body: dict[str, Any], event_header: str, repository_id: int, s: Any
    ) -> Refused | None:
        """What :meth:`_publish` would refuse before any fetch (so the webhook's answer can say it), or None."""
        repo = s.get(ConnectedRepository, repository_id)
        try:
            self._precheck(parse(provider, event_header, body), repo.url)
        except Refused as refused:
            return refused
        return None

    def _precheck(self, event: ReleaseEvent, url: str) -> str:
        """The release's tag, once the checks that need no network pass (Refused otherwise)."""
        if not event.publishes:
            raise Refused(event.why_not, field="event", **event.why_values)
        if not event.tag:
            raise Refused(N_("the release names no tag"), field="tag")
        archives.check_host(url, self.settings.git_hosts, allow_http=self.settings.allow_http)
        return event.tag

    def _enqueue(self, delivery_id: int, s: Any) -> None:
        assert self.queue is not None
        self.queue.enqueue(
            "release.delivery",
            {"delivery": delivery_id},
            ref=f"release.delivery:{delivery_id}",
            max_attempts=2,  # a second attempt after a lost worker; a failed fetch waits for a person's retry
            session=s,
        )

    def given_up(self, delivery_id: int, reason: str) -> None:
        """The queue gave up on processing ``delivery_id`` (its worker lost, no attempt left): failed, retry-able,
        saying why; a delivery that recorded its own outcome is left as it is."""
        with self.db.transaction() as s:
            delivery = s.get(ReleaseDelivery, delivery_id)
            if delivery is not None and delivery.outcome in ("pending", "processing"):
                gone = Notice(N_("processing did not finish: {reason}"), reason=reason)
                delivery.outcome, delivery.reason = "failed", gone[:2000]
                delivery.reason_message = gone.stored()  # the reader's language, the queue's reason inside it too
                delivery.finished_at = datetime.now(UTC)

    def retry(self, actor: Principal, delivery_id: int) -> DeliveryView:
        """Process a verified delivery again (its owner or a curator); Conflict for one that created its version or
        that was never verified (a bad signature, an unknown repository)."""
        with self.db.reader() as s:
            delivery = s.get(ReleaseDelivery, delivery_id)
            if delivery is None or delivery.repository_id is None:
                raise NotFound(N_("there is no such delivery"), field="delivery")
            self._visible(s, actor, delivery.repository_id)
            if not _retryable(delivery):
                raise Conflict(
                    N_("this delivery is {delivery_outcome}; only a failed or refused one is retried"),
                    delivery_outcome=delivery.outcome,
                )
        if self.queue is None:
            return self.process(delivery_id)
        with self.db.transaction() as s:  # pending again, its processing queued: the list shows it waiting
            claimed = s.execute(
                update(ReleaseDelivery)
                .where(ReleaseDelivery.id == delivery_id, ReleaseDelivery.outcome.in_(("failed", "refused")))
                .values(outcome="pending", reason="", field=None, finished_at=None)
            )
            if cast(CursorResult[Any], claimed).rowcount:
                self._enqueue(delivery_id, s)
            delivery = s.get(ReleaseDelivery, delivery_id, populate_existing=True)
            assert delivery is not None
            return _delivery(delivery)

    def process(self, delivery_id: int, *, take_over: bool = False) -> DeliveryView:
        """Turn a recorded, verified delivery into a new software version, and store the outcome on it.

        Safe to call again (a queue retrying, a user's retry): one that created its version, or that another
        worker is processing now, is returned as it is. ``take_over``: the caller knows the worker that left it
        "processing" is gone (the queue runs a job again only after its worker was lost), so take it at once.
        """
        started = datetime.now(UTC)
        stale_before = started if take_over else started - STALE
        with self.db.transaction() as s:
            claimed = cast(
                CursorResult[Any],
                s.execute(
                    update(ReleaseDelivery)
                    .where(
                        ReleaseDelivery.id == delivery_id,
                        ReleaseDelivery.payload.is_not(None),
                        ReleaseDelivery.repository_id.is_not(None),  # an unmatched one keeps only claimed URLs
                        or_(
                            ReleaseDelivery.outcome.in_(("pending", "failed", "refused")),
                            # a worker that died mid-way leaves "processing" behind: taken over once surely stale
                            (ReleaseDelivery.outcome == "processing") & (ReleaseDelivery.started_at < stale_before),
                        ),
                    )
                    .values(outcome="processing", attempts=ReleaseDelivery.attempts + 1, started_at=started)
                ),
            ).rowcount
            delivery = s.get(ReleaseDelivery, delivery_id)
            if delivery is None:
                raise NotFound(N_("there is no such delivery"), field="delivery")
            if not claimed:
                return _delivery(delivery)
            repo = s.get(ConnectedRepository, delivery.repository_id)
            assert repo is not None and delivery.payload is not None
            job = _Job(repo.id, repo.owner_id, repo.provider, repo.url, repo.recid, delivery.payload)
        outcome, reason, field, recid = "created", "", None, None
        message: dict[str, Any] | None = None  # the reason as a message id, shown in the reader's language
        try:
            recid = self._publish(job)
        except DeliveryProblem as problem:
            outcome, reason, field, message = problem.outcome, problem.reason, problem.field, problem.stored()
        except PortalError as err:  # the catalogue's refusals (an open draft, say): visible, retry-able
            outcome, reason, field, message = "failed", err.message, err.field, err.stored()
        except Exception as exc:
            log.exception("release delivery %s failed", delivery_id)
            outcome, reason, field = "failed", f"internal error: {type(exc).__name__}: {exc}"[:500], None
        with self.db.transaction() as s:
            delivery = s.get(ReleaseDelivery, delivery_id)
            assert delivery is not None
            delivery.outcome, delivery.reason, delivery.field, delivery.recid = outcome, reason, field, recid
            delivery.reason_message = message
            delivery.finished_at = datetime.now(UTC)
            if recid is not None:
                repo = s.get(ConnectedRepository, job.repository_id)
                if repo is not None and repo.recid is None:
                    repo.recid = recid
            return _delivery(delivery)

    def _publish(self, job: _Job) -> int:
        """The new version's recid. Raises Refused or Failed (and the catalogue's errors)."""
        event = parse(job.provider, job.payload.get("event", ""), job.payload.get("body") or {})
        tag = self._precheck(event, job.url)
        name = SAFE_NAME.sub("-", job.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")) or "source"
        prefix = f"{name}-{SAFE_NAME.sub('-', tag)}"
        rel = f"releases/{job.repository_id}/{prefix}.tar.gz"
        dest = self.settings.data_dir / rel
        archive = archives.fetch_release(
            job.url,
            tag,
            dest,
            work_root=self.settings.work_dir,
            max_bytes=self.settings.max_archive_bytes,
            prefix=prefix,
        )
        try:
            return self._new_version(job, event, archive, rel, prefix)
        except BaseException:
            dest.unlink(missing_ok=True)  # nothing half-written: no version, no archive
            raise

    def _new_version(self, job: _Job, event: ReleaseEvent, archive: archives.Archive, rel: str, prefix: str) -> int:
        if archive.citation_cff is not None:
            zenodo, source = metadata.zenodo_from_cff(archive.citation_cff), "CITATION.cff"
        elif archive.zenodo_json is not None:
            zenodo, source = metadata.zenodo_from_json(archive.zenodo_json), ".zenodo.json"
        else:
            raise Refused(N_("no CITATION.cff or .zenodo.json at tag {tag!r}"), tag=event.tag, field="CITATION.cff")
        md = metadata.record_metadata(
            zenodo,
            source=source,
            repository_url=job.url,
            tag=event.tag or "",
            release_name=event.name,
            release_notes=event.description,
        )
        row = {
            "key": f"{prefix}.tar.gz",
            "uri": self.file_uri(rel),
            "size": archive.size,
            "checksum": archive.adler32,
            "type": "tar.gz",
            "description": f"git archive of tag {event.tag} (commit {archive.commit}), sha256:{archive.sha256}",
        }
        origin = f"release {event.tag} of {job.url}"
        try:
            if job.recid is None:
                return self.catalog.create(md, source=origin, files=[row], owner_id=job.owner_id).recid
            draft = self.catalog.new_version(job.recid, actor=RELEASE_WEBHOOK, owner_id=job.owner_id)
            try:
                self.catalog.update_draft(draft.recid, md, files=[row], actor=RELEASE_WEBHOOK)
                return self.catalog.publish(draft.recid, actor=RELEASE_WEBHOOK).recid
            except BaseException:
                self.catalog.discard_draft(draft.recid)
                raise
        except Invalid as err:
            field = f"{source}:{err.field}" if err.field else source
            # the catalogue's detail goes in whole (a Notice keeps its id), so both sentences are translated
            detail = err.detail if isinstance(err.template, Plural) else Notice(err.template, **err.params)
            raise Refused(N_("bad {source}: {detail}"), source=source, detail=detail, field=field) from err

    def _refused(
        self,
        provider: str,
        key: str,
        event: str,
        repository_id: int | None,
        refusal: Refused,
        *,
        tag: str | None = None,
        claimed: list[str] | None = None,
    ) -> DeliveryView:
        """Record a delivery refused before it could be trusted. It is stored under a key of its own, so an unsigned
        delivery can never take the id of a genuine one (the genuine one, arriving later, is still processed).
        One that matched no repository keeps only the URLs it claimed (``claimed``, credentials stripped) as its
        payload, never the body, and the oldest such ones are pruned (`releases_unmatched_kept`, `…_days`)."""
        now = datetime.now(UTC)
        with self.db.transaction() as s:
            delivery = ReleaseDelivery(
                repository_id=repository_id,
                provider=provider,
                delivery_key=f"unverified:{signatures.new_salt()[:16]}",
                event=event[:60],
                tag=(tag or None) and tag[:255],
                outcome="refused",
                reason=refusal.reason[:2000],
                reason_message=refusal.stored(),  # shown in the reader's language (the answer, the repository page)
                field=refusal.field,
                attempts=1,
                payload={"claimed": [u[:500] for u in claimed[:5]]} if repository_id is None and claimed else None,
                received_at=now,
                finished_at=now,
            )
            s.add(delivery)
            s.flush()
            if key:
                delivery.delivery_key = f"unverified:{delivery.id}:{key}"[:128]
            if repository_id is None:
                _prune_unmatched(s, now, kept=self.settings.unmatched_kept, days=self.settings.unmatched_days)
            return _delivery(delivery)

    def unmatched(self, actor: Principal, *, page: int = 1, size: int = 50) -> DeliveryPage:
        """Deliveries that matched no connected repository (a webhook pointed at this portal for a repository
        nobody connected, or a body that could not be read), newest first: admins only."""
        policy.require_see_unmatched_deliveries(actor)
        with self.db.reader() as s:
            return _delivery_page(s, ReleaseDelivery.repository_id.is_(None), page, size)


def _delivery_page(s: Any, where: Any, page: int, size: int) -> DeliveryPage:
    """One page of the deliveries ``where`` selects, newest first, with their total."""
    rows, total = page_of(s, select(ReleaseDelivery).where(where), ReleaseDelivery.id.desc(), page=page, size=size)
    return DeliveryPage([_delivery(d) for d in rows], total, page, size)


def _prune_unmatched(s: Any, now: datetime, *, kept: int, days: int) -> None:
    """Keep the newest ``kept`` unmatched deliveries (at least the one just recorded), none older than ``days``."""
    unmatched = ReleaseDelivery.repository_id.is_(None)
    oldest_kept = s.scalar(
        select(ReleaseDelivery.id).where(unmatched).order_by(ReleaseDelivery.id.desc()).offset(max(kept, 1) - 1)
    )
    too_old = ReleaseDelivery.received_at < now - timedelta(days=days)
    stale = or_(too_old, ReleaseDelivery.id < oldest_kept) if oldest_kept is not None else too_old
    s.execute(delete(ReleaseDelivery).where(unmatched, stale))


def public_url(url: str) -> str:
    """``url`` without what may be a credential (user:token@, query, fragment): it is shown to admins."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not a URL)"
    if not parts.scheme or not host:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1][:500]
    return f"{parts.scheme}://{host}{port}{parts.path}"[:500]


@dataclass(frozen=True)
class _Job:
    repository_id: int
    owner_id: int
    provider: str
    url: str
    recid: int | None
    payload: dict[str, Any]


def _json_object(body: bytes) -> dict[str, Any]:
    import json

    data = json.loads(body.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _retryable(d: ReleaseDelivery) -> bool:
    # an unmatched delivery's payload is only the URLs it claimed: nothing to process again
    return d.payload is not None and d.repository_id is not None and d.outcome in ("failed", "refused")


def _repository(r: ConnectedRepository) -> RepositoryView:
    return RepositoryView(r.id, r.owner_id, r.provider, r.url, r.recid, r.created_at, f"/api/hooks/{r.provider}")


def _delivery(d: ReleaseDelivery, *, replayed: bool = False) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        repository_id=d.repository_id,
        provider=d.provider,
        delivery_key=d.delivery_key,
        event=d.event,
        tag=d.tag,
        outcome=d.outcome,
        reason=d.reason,
        reason_message=d.reason_message,
        field=d.field,
        recid=d.recid,
        attempts=d.attempts,
        received_at=d.received_at,
        finished_at=d.finished_at,
        retryable=_retryable(d),
        replayed=replayed,
        claimed=tuple((d.payload or {}).get("claimed", ())) if d.repository_id is None else (),
    )
