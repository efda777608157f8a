"""What the release service returns: repositories and deliveries as the pages and the API show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.errors import Translate, stored_message
from portal.i18n import translate_same


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class RepositoryView:
    id: int
    owner_id: int
    provider: str
    url: str
    recid: int | None
    created_at: datetime
    hook_path: str  # where the provider posts: /api/hooks/<provider>

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "url": self.url,
            "recid": self.recid,
            "created_at": _iso(self.created_at),
            "hook_path": self.hook_path,
        }


@dataclass(frozen=True)
class Connected:
    """A newly connected repository and its webhook secret: the one time the secret is shown."""

    repository: RepositoryView
    secret: str

    def to_json(self) -> dict[str, Any]:
        return {**self.repository.to_json(), "secret": self.secret}


@dataclass(frozen=True)
class DeliveryView:
    """One delivery: ``outcome`` is pending, processing, created, refused or failed; ``retryable`` when a retry
    may change it (a verified delivery that did not create a version)."""

    id: int
    repository_id: int | None
    provider: str
    delivery_key: str
    event: str
    tag: str | None
    outcome: str
    reason: str
    field: str | None
    recid: int | None
    attempts: int
    received_at: datetime
    finished_at: datetime | None
    retryable: bool
    replayed: bool = False  # True when this answer is for a delivery id seen before (nothing was redone)
    claimed: tuple[str, ...] = ()  # the repository URLs an unmatched delivery named (credentials stripped)
    #: ``reason`` as a message id and values (None: recorded as text only, or before they were kept)
    reason_message: dict[str, Any] | None = None

    def localized_reason(self, translate: Translate) -> str:
        """``reason`` in the language of ``translate`` when it was kept as a message id, else as it was recorded."""
        return stored_message(self.reason_message, translate) if self.reason_message else self.reason

    def to_json(self, translate: Translate = translate_same) -> dict[str, Any]:
        """The delivery as the API returns it, its reason through ``translate`` (the reader's language)."""
        return {
            "id": self.id,
            "repository_id": self.repository_id,
            "provider": self.provider,
            "delivery": self.delivery_key,
            "event": self.event,
            "tag": self.tag,
            "outcome": self.outcome,
            "reason": self.localized_reason(translate),
            "field": self.field,
            "recid": self.recid,
            "record_url": f"/record/{self.recid}" if self.recid else None,
            "attempts": self.attempts,
            "received_at": _iso(self.received_at),
            "finished_at": _iso(self.finished_at),
            "retryable": self.retryable,
            "replayed": self.replayed,
        }


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[DeliveryView]
    total: int
    page: int
    size: int

    def to_json(self, translate: Translate = translate_same) -> dict[str, Any]:
        return {
            "hits": [d.to_json(translate) for d in self.deliveries],
            "total": self.total,
            "page": self.page,
            "size": self.size,
        }
