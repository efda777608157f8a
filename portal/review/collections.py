"""Collections: created by admins (or `portal collections create`), each with its curators (users, a group)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_
from portal.identity import policy
from portal.identity.audit import AuditLog
from portal.identity.models import User
from portal.identity.principal import Principal
from portal.review.models import Collection, CollectionCurator

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    slug: str
    title: str
    description: str
    curated: bool
    curator_group: str | None
    curators: tuple[str, ...]  # user names
    curator_ids: frozenset[int]

    def is_curator(self, principal: Principal) -> bool:
        """Whether ``principal`` curates this collection: a listed user, or a member of its curator group."""
        if principal.user_id is not None and principal.user_id in self.curator_ids:
            return True
        return self.curator_group is not None and self.curator_group in principal.groups


def _info(s: Session, row: Collection) -> CollectionInfo:
    users = s.execute(
        select(User.id, User.username)
        .join(CollectionCurator, CollectionCurator.user_id == User.id)
        .where(CollectionCurator.collection_id == row.id)
        .order_by(User.username)
    ).all()
    return CollectionInfo(
        row.id,
        row.slug,
        row.title,
        row.description,
        row.curated,
        row.curator_group,
        tuple(u.username for u in users),
        frozenset(u.id for u in users),
    )


def collection_in(s: Session, collection_id: int) -> CollectionInfo:
    """The collection ``collection_id`` read in the caller's session (inside its transaction)."""
    row = s.get(Collection, collection_id)
    if row is None:
        raise NotFound(N_("there is no such collection"), field="collection")
    return _info(s, row)


class CollectionService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def create(
        self,
        actor: Principal,
        slug: str,
        title: str,
        *,
        description: str = "",
        curated: bool = True,
        curator_group: str | None = None,
    ) -> CollectionInfo:
        """A new collection. Invalid: a slug that is not lower-case letters, digits and '-'; an empty title.
        Conflict: the slug is taken."""
        if actor.via != "cli":
            policy.require_manage_collections(actor)
        if not isinstance(slug, str) or not SLUG.match(slug):
            raise Invalid(
                N_("a collection's slug is 1 to 64 lower-case letters, digits and '-' (not first)"), field="slug"
            )
        if not title.strip():
            raise Invalid(N_("give the collection a title"), field="title")
        with self.db.transaction() as s:
            if s.scalar(select(Collection.id).where(Collection.slug == slug)) is not None:
                raise Conflict(N_("there is a collection {slug!r} already"), slug=slug, field="slug")
            row = Collection(
                slug=slug,
                title=title.strip(),
                description=description,
                curated=curated,
                curator_group=curator_group or None,
            )
            s.add(row)
            s.flush()
            self.audit.add(actor, "collection.create", f"collection {slug}", {"curated": curated}, session=s)
            return _info(s, row)

    def add_curator(self, actor: Principal, slug: str, username: str) -> CollectionInfo:
        if actor.via != "cli":
            policy.require_manage_collections(actor)
        with self.db.transaction() as s:
            row = self._row(s, slug)
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(N_("there is no user {username!r}"), username=username, field="username")
            if s.get(CollectionCurator, (row.id, user.id)) is None:
                s.add(CollectionCurator(collection_id=row.id, user_id=user.id))
                self.audit.add(actor, "collection.curator", f"collection {slug}", {"user": username}, session=s)
            s.flush()
            return _info(s, row)

    def all(self) -> list[CollectionInfo]:
        with self.db.reader() as s:
            return [_info(s, row) for row in s.scalars(select(Collection).order_by(Collection.slug))]

    def get(self, slug: str) -> CollectionInfo:
        with self.db.reader() as s:
            return _info(s, self._row(s, slug))

    def by_id(self, collection_id: int) -> CollectionInfo:
        with self.db.reader() as s:
            return collection_in(s, collection_id)

    def named(self, slugs: list[str]) -> list[CollectionInfo]:
        """The portal's collections among ``slugs`` (a record's `collections`; other names are kept as they are:
        CERN Open Data's internal ones are not ours)."""
        wanted = [x for x in slugs if isinstance(x, str)]
        if not wanted:
            return []
        with self.db.reader() as s:
            rows = s.scalars(select(Collection).where(Collection.slug.in_(wanted)).order_by(Collection.slug))
            return [_info(s, row) for row in rows]

    def curated_by(self, principal: Principal) -> list[CollectionInfo]:
        return [c for c in self.all() if c.is_curator(principal)]

    @staticmethod
    def _row(s: Session, slug: str) -> Collection:
        row = s.scalar(select(Collection).where(Collection.slug == slug))
        if row is None:
            raise NotFound(N_("there is no collection {slug!r}"), slug=slug, field="collection")
        return row
