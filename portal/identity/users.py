"""Accounts: local users with argon2 password hashes, users from OpenID Connect providers, roles and groups."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.db.paging import page_of
from portal.errors import Conflict, Invalid, NotFound, Unauthorized
from portal.i18n import N_
from portal.identity.audit import AuditLog
from portal.identity.models import ExternalIdentity, Group, GroupMember, User
from portal.identity.principal import ROLES, Principal

USERNAME = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")  # also a valid Unix and JupyterHub user name
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
MIN_PASSWORD = 10
HASH_PARALLELISM = 4  # argon2-cffi's default (RFC 9106's profiles use 4 lanes)


def password_hasher(time_cost: int = 3, memory_kib: int = 65536) -> PasswordHasher:
    """The argon2id hasher of the settings `password_hash_time_cost` and `password_hash_memory_kib` (defaults:
    argon2-cffi's, RFC 9106's low-memory profile). Only the tests lower them: a hash costs them milliseconds
    instead of up to a second on a loaded machine. Hashes made with other parameters still verify, and are
    rehashed with these at the next sign-in."""
    for field, value, minimum in (
        ("PORTAL_PASSWORD_HASH_TIME_COST", time_cost, 1),
        ("PORTAL_PASSWORD_HASH_MEMORY_KIB", memory_kib, 8 * HASH_PARALLELISM),  # argon2's floor: 8 KiB a lane
    ):
        if value < minimum:
            raise Invalid(N_("must be at least {minimum}"), field=field, minimum=minimum)
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=HASH_PARALLELISM)


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    name: str
    email: str | None
    orcid: str | None
    roles: list[str]
    groups: list[str]
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    has_password: bool
    session_version: int

    def principal(self, via: str = "session") -> Principal:
        return Principal(
            via=via,  # type: ignore[arg-type]
            user_id=self.id,
            username=self.username,
            roles=frozenset(self.roles),
            groups=frozenset(self.groups),
        )


def groups_of(s: Session, user_id: int) -> list[str]:
    return list(
        s.scalars(
            select(Group.name).join(GroupMember, GroupMember.group_id == Group.id).where(GroupMember.user_id == user_id)
        )
    )


def _info(s: Session, u: User) -> UserInfo:
    return UserInfo(
        u.id,
        u.username,
        u.name,
        u.email,
        u.orcid,
        sorted(u.roles or []),
        sorted(groups_of(s, u.id)),
        u.disabled,
        u.created_at,
        u.last_login_at,
        u.password_hash is not None,
        u.session_version,
    )


def check_username(username: str) -> str:
    if not USERNAME.match(username or ""):
        raise Invalid(
            N_("a user name is 2-32 characters: a lower-case letter, then lower-case letters, digits, '-' or '_'"),
            field="username",
        )
    return username


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise Invalid(
            N_("a password needs at least {MIN_PASSWORD} characters"), MIN_PASSWORD=MIN_PASSWORD, field="password"
        )
    return password


def _check_roles(roles: Iterable[str]) -> list[str]:
    wanted = sorted(set(roles) - {"user"})
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise Invalid(
            N_("unknown role(s) {names}; known: {known}"),
            names=", ".join(unknown),
            known=", ".join(ROLES),
            field="roles",
        )
    return wanted


class UserService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        hasher: PasswordHasher | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.hasher = hasher or password_hasher()
        self.now = now or (lambda: datetime.now(UTC))

    @cached_property
    def _dummy_hash(self) -> str:
        """Verified against when the user does not exist, so a wrong user name costs as long as a wrong password
        (made on first use, not at import: a CLI command that signs no one in pays no hash)."""
        return self.hasher.hash("not a password anyone has")

    # -- accounts ---------------------------------------------------------------------------------------------
    def create(
        self,
        actor: Principal,
        username: str,
        *,
        name: str = "",
        email: str | None = None,
        password: str | None = None,
        roles: Iterable[str] = (),
        orcid: str | None = None,
        action: str = "user.create",
    ) -> UserInfo:
        """A new account; local accounts have a password (argon2id hash), OIDC ones may not."""
        check_username(username)
        if email is not None and not EMAIL.match(email):
            raise Invalid(N_("{email!r} is not an email address"), email=email, field="email")
        if orcid is not None and not ORCID.match(orcid):
            raise Invalid(N_("{orcid!r} is not an ORCID iD (0000-0002-1825-0097)"), orcid=orcid, field="orcid")
        role_list = _check_roles(roles)
        if password is not None:
            check_password(password)
        try:
            with self.db.transaction() as s:
                user = User(
                    username=username,
                    name=name.strip() or username,
                    email=email.lower() if email else None,
                    orcid=orcid,
                    password_hash=self.hasher.hash(password) if password is not None else None,
                    roles=role_list,
                    disabled=False,
                    session_version=1,
                    created_at=self.now(),
                )
                s.add(user)
                s.flush()
                self.audit.add(actor, action, f"user {username}", {"roles": role_list}, session=s)
                return _info(s, user)
        except IntegrityError:
            raise Conflict(
                N_("user name {username!r} or email {email!r} is already taken"),
                username=username,
                email=email,
                field="username",
            ) from None

    def get(self, user_id: int) -> UserInfo:
        with self.db.reader() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(N_("there is no user {user_id}"), user_id=user_id)
            return _info(s, user)

    def by_username(self, username: str) -> UserInfo:
        with self.db.reader() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(N_("there is no user {username!r}"), username=username, field="username")
            return _info(s, user)

    def list(self, *, page: int = 1, size: int = 50) -> tuple[list[UserInfo], int]:
        with self.db.reader() as s:
            rows, total = page_of(s, select(User), User.username, page=page, size=size)
            return [_info(s, u) for u in rows], total

    def has_admin(self) -> bool:
        """Whether an enabled account holds the admin role."""
        with self.db.reader() as s:
            return any("admin" in (roles or []) for roles in s.scalars(select(User.roles).where(~User.disabled)))

    def count(self) -> int:
        with self.db.reader() as s:
            return s.scalar(select(func.count()).select_from(User)) or 0

    # -- signing in -------------------------------------------------------------------------------------------
    def authenticate(self, login: str, password: str, *, ip: str | None = None) -> UserInfo:
        """The user whose user name (or email) and password these are; :class:`Unauthorized` otherwise, with the
        same message whichever part was wrong. Failed attempts are audited."""
        login = (login or "").strip().lower()
        with self.db.transaction() as s:
            user = s.scalar(select(User).where((User.username == login) | (User.email == login)))
            stored = user.password_hash if user is not None and user.password_hash else self._dummy_hash
            try:
                self.hasher.verify(stored, password or "")
                ok = user is not None and user.password_hash is not None and not user.disabled
            except (VerificationError, InvalidHashError):
                ok = False
            if ok and user is not None:
                if self.hasher.check_needs_rehash(stored):
                    user.password_hash = self.hasher.hash(password)
                user.last_login_at = self.now()
                info = _info(s, user)
                self.audit.add(
                    info.principal(), "signin", f"user {user.username}", {"method": "password"}, ip=ip, session=s
                )
                return info
        # recorded in its own transaction: the refusal must not roll the record of it back
        self.audit.add(Principal(via="anonymous"), "signin.failed", f"login {login[:64]}", {}, ip=ip)
        raise Unauthorized(N_("wrong user name or password"), field="password")

    def from_provider(
        self,
        provider: str,
        subject: str,
        claims: dict[str, object],
        *,
        ip: str | None = None,
        link_verified_email: bool = False,
    ) -> UserInfo:
        """The user linked to ``(provider, subject)``; on first sign-in a new account from the provider's claims
        (user name from ``preferred_username`` or the email's local part, made unique; name, email, ORCID iD).

        With ``link_verified_email`` (a provider trusted to verify emails), a first sign-in whose claims carry
        ``email_verified: true`` is linked to the existing account holding that email instead; otherwise an email
        another account holds is never linked (that would hand the account to whoever controls the provider)."""
        if not subject:
            raise Invalid(N_("the provider sent no subject (sub) claim"), field="sub")
        with self.db.transaction() as s:
            link = s.scalar(
                select(ExternalIdentity).where(
                    ExternalIdentity.provider == provider, ExternalIdentity.subject == subject
                )
            )
            if link is not None:
                user = s.get(User, link.user_id)
                assert user is not None
                if user.disabled:
                    raise Unauthorized(N_("this account is disabled"), field="user")
            else:
                email = str(claims.get("email") or "").lower()
                existing = (
                    s.scalar(select(User).where(User.email == email))
                    if link_verified_email and email and claims.get("email_verified") is True
                    else None
                )
                if existing is not None and existing.disabled:
                    raise Unauthorized(N_("this account is disabled"), field="user")
                user = existing if existing is not None else self._new_from_claims(s, provider, claims)
                if existing is not None:
                    target = f"user {existing.username}"
                    self.audit.add(
                        _info(s, existing).principal(), "user.update", target, {"linked": provider}, session=s
                    )
                s.add(ExternalIdentity(user_id=user.id, provider=provider, subject=subject, created_at=self.now()))
            user.last_login_at = self.now()
            info = _info(s, user)
            self.audit.add(info.principal(), "signin", f"user {user.username}", {"method": provider}, ip=ip, session=s)
            return info

    def _new_from_claims(self, s: Session, provider: str, claims: dict[str, object]) -> User:
        email = str(claims.get("email") or "").lower() or None
        if email and not EMAIL.match(email):
            email = None
        if email and s.scalar(select(User.id).where(User.email == email)) is not None:
            # never link by email silently: another account holds it (a takeover path if the IdP is not trusted)
            email = None
        base = str(claims.get("preferred_username") or (email or "").split("@")[0] or provider).lower()
        base = re.sub(r"[^a-z0-9_-]", "-", base).strip("-_") or "user"
        if not base[0].isalpha():
            base = "u" + base
        base = base[:28]
        username = base if len(base) >= 2 else f"{base}-user"
        n = 1
        while s.scalar(select(User.id).where(User.username == username)) is not None:
            n += 1
            username = f"{base}{n}"
        orcid = str(claims.get("orcid") or "") or None
        user = User(
            username=username,
            name=str(claims.get("name") or username),
            email=email,
            orcid=orcid if orcid and ORCID.match(orcid) else None,
            password_hash=None,
            roles=[],
            disabled=False,
            session_version=1,
            created_at=self.now(),
        )
        s.add(user)
        s.flush()
        self.audit.add(Principal(via="anonymous"), "signup", f"user {username}", {"provider": provider}, session=s)
        return user

    def session_principal(self, user_id: int, session_version: int) -> Principal | None:
        """The principal of a browser session, or None when the user is gone, disabled or signed out everywhere."""
        with self.db.reader() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled or user.session_version != session_version:
                return None
            return _info(s, user).principal()

    # -- changes ----------------------------------------------------------------------------------------------
    def set_password(self, actor: Principal, user_id: int, password: str) -> None:
        """New password; every browser session of the user is signed out."""
        check_password(password)
        with self.db.transaction() as s:
            user = self._user(s, user_id)
            user.password_hash = self.hasher.hash(password)
            user.session_version += 1
            self.audit.add(actor, "user.update", f"user {user.username}", {"password": True}, session=s)

    def update_profile(
        self, actor: Principal, user_id: int, *, name: str, email: str | None, orcid: str | None
    ) -> UserInfo:
        if email and not EMAIL.match(email):
            raise Invalid(N_("{email!r} is not an email address"), email=email, field="email")
        if orcid and not ORCID.match(orcid):
            raise Invalid(N_("{orcid!r} is not an ORCID iD (0000-0002-1825-0097)"), orcid=orcid, field="orcid")
        try:
            with self.db.transaction() as s:
                user = self._user(s, user_id)
                user.name, user.email, user.orcid = name.strip() or user.username, (email or None), (orcid or None)
                self.audit.add(actor, "user.update", f"user {user.username}", {"profile": True}, session=s)
                return _info(s, user)
        except IntegrityError:
            raise Conflict(N_("email {email!r} belongs to another account"), email=email, field="email") from None

    def set_roles(self, actor: Principal, user_id: int, roles: Iterable[str]) -> UserInfo:
        wanted = _check_roles(roles)
        with self.db.transaction() as s:
            user = self._user(s, user_id)
            before = sorted(user.roles or [])
            user.roles = wanted
            self.audit.add(actor, "user.roles", f"user {user.username}", {"from": before, "to": wanted}, session=s)
            return _info(s, user)

    def set_disabled(self, actor: Principal, user_id: int, disabled: bool) -> UserInfo:
        with self.db.transaction() as s:
            user = self._user(s, user_id)
            user.disabled = disabled
            user.session_version += 1
            self.audit.add(actor, "user.disable", f"user {user.username}", {"disabled": disabled}, session=s)
            return _info(s, user)

    def add_to_group(self, actor: Principal, user_id: int, group: str) -> UserInfo:
        if not USERNAME.match(group):
            raise Invalid(
                N_("a group name follows the user-name rules (lower-case letters, digits, '-', '_')"), field="group"
            )
        with self.db.transaction() as s:
            user = self._user(s, user_id)
            row = s.scalar(select(Group).where(Group.name == group))
            if row is None:
                row = Group(name=group, description="")
                s.add(row)
                s.flush()
            if s.get(GroupMember, (row.id, user.id)) is None:
                s.add(GroupMember(group_id=row.id, user_id=user.id))
                self.audit.add(actor, "group.add", f"user {user.username}", {"group": group}, session=s)
            s.flush()
            return _info(s, user)

    def remove_from_group(self, actor: Principal, user_id: int, group: str) -> UserInfo:
        with self.db.transaction() as s:
            user = self._user(s, user_id)
            row = s.scalar(select(Group).where(Group.name == group))
            member = s.get(GroupMember, (row.id, user.id)) if row is not None else None
            if member is not None:
                s.delete(member)
                self.audit.add(actor, "group.remove", f"user {user.username}", {"group": group}, session=s)
            s.flush()
            return _info(s, user)

    @staticmethod
    def _user(s: Session, user_id: int) -> User:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(N_("there is no user {user_id}"), user_id=user_id)
        return user
