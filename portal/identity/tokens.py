"""Personal access tokens: shown once at creation, stored as SHA-256, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.db.engine import Database
from portal.errors import Invalid, NotFound, Unauthorized
from portal.i18n import N_
from portal.identity.audit import AuditLog
from portal.identity.models import ApiToken, User
from portal.identity.policy import require_manage_tokens
from portal.identity.principal import SCOPES, Principal
from portal.identity.users import groups_of

TOKEN_PREFIX = "oep_"  # recognisable in logs and by secret scanners
#: last_used_at is written at most this often per token, so API calls do not each cost a write
LAST_USED_GRANULARITY = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _info(t: ApiToken) -> TokenInfo:
    return TokenInfo(
        t.id,
        t.user_id,
        t.name,
        t.prefix,
        list(t.scopes or []),
        _aware(t.created_at) or t.created_at,
        _aware(t.expires_at),
        _aware(t.last_used_at),
        _aware(t.revoked_at),
    )


class TokenService:
    def __init__(self, db: Database, audit: AuditLog, *, now: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    def create(
        self,
        actor: Principal,
        user_id: int,
        name: str,
        scopes: Iterable[str],
        *,
        expires_in_days: int | None = 90,
        ip: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token for ``user_id`` and its secret, which is shown once and never stored.

        ``actor`` must be the user themselves or an admin. Scopes must be known and granted by the user's roles.
        """
        wanted = sorted(set(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if unknown:
            raise Invalid(
                N_("unknown scope(s) {names}; known: {known}"),
                names=", ".join(unknown),
                known=", ".join(SCOPES),
                field="scopes",
            )
        if not wanted:
            raise Invalid(N_("a token needs at least one scope"), field="scopes")
        name = (name or "").strip()
        if not name or len(name) > 128:
            raise Invalid(N_("give the token a name of 1 to 128 characters"), field="name")
        if expires_in_days is not None and not 1 <= expires_in_days <= 366:
            raise Invalid(N_("expiry must be between 1 and 366 days (or none)"), field="expires_in_days")
        require_manage_tokens(actor, user_id)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.transaction() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(N_("there is no user {user_id}"), user_id=user_id)
            owner = Principal(via="session", user_id=user.id, username=user.username, roles=frozenset(user.roles))
            beyond = [sc for sc in wanted if sc not in owner.scopes]
            if beyond:
                raise Invalid(
                    N_(
                        "{user_username}'s roles do not grant {scopes}; a token cannot carry more than its owner may do"
                    ),
                    user_username=user.username,
                    scopes=", ".join(beyond),
                    field="scopes",
                )
            now = self.now()
            token = ApiToken(
                user_id=user_id,
                name=name,
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                token_hash=_hash(secret),
                scopes=wanted,
                created_at=now,
                expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            )
            s.add(token)
            s.flush()
            self.audit.add(
                actor, "token.create", f"token {token.id} of {user.username}", {"scopes": wanted}, ip=ip, session=s
            )
            return _info(token), secret

    def authenticate(self, secret: str) -> Principal:
        """The principal a bearer token acts as; :class:`Unauthorized` for an unknown, expired, revoked token or
        a disabled user (the message says which, without revealing whether other tokens exist)."""
        if not secret.startswith(TOKEN_PREFIX):
            raise Unauthorized(N_("not a personal access token of this portal (they start with 'oep_')"), field="token")
        now = self.now()
        with self.db.transaction() as s:
            token = s.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
            if token is None:
                raise Unauthorized(N_("unknown token"), field="token")
            if token.revoked_at is not None:
                raise Unauthorized(N_("this token was revoked"), field="token")
            expires = _aware(token.expires_at)
            if expires is not None and expires <= now:
                raise Unauthorized(N_("this token expired on {expires:%Y-%m-%d}"), expires=expires, field="token")
            user = s.get(User, token.user_id)
            if user is None or user.disabled:
                raise Unauthorized(N_("the token's user is disabled"), field="token")
            last = _aware(token.last_used_at)
            if last is None or now - last >= LAST_USED_GRANULARITY:
                token.last_used_at = now
            return Principal(
                via="token",
                user_id=user.id,
                username=user.username,
                roles=frozenset(user.roles or []),
                groups=frozenset(groups_of(s, user.id)),
                token_scopes=frozenset(token.scopes or []),
                token_id=token.id,
            )

    def list(self, user_id: int) -> list[TokenInfo]:
        with self.db.reader() as s:
            rows = s.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc()))
            return [_info(t) for t in rows]

    def revoke(self, actor: Principal, token_id: int, *, ip: str | None = None) -> TokenInfo:
        """Revoke at once: the next request with the token is refused. Owners revoke theirs, admins any."""
        with self.db.transaction() as s:
            token = s.get(ApiToken, token_id)
            if token is None or (token.user_id != actor.user_id and "admin" not in actor.scopes):
                raise NotFound(N_("you have no token {token_id}"), token_id=token_id)
            if token.revoked_at is None:
                token.revoked_at = self.now()
                self.audit.add(actor, "token.revoke", f"token {token.id}", {}, ip=ip, session=s)
            return _info(token)
