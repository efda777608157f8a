"""One page of a query's rows with the total the query selects: the numbered pages of the portal's own lists
(my records, users, review requests, deliveries, DOI registrations, sessions, builds). Lists that can grow without
bound for everyone (search, file indices, the record API) use keyset cursors instead; these are per person or
admin lists, where a page number and a total are what people want."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def page_of(s: Session, query: Select[T], *order: Any, page: int, size: int) -> tuple[Sequence[T], int]:
    """Rows ``(page - 1) * size`` to ``page * size`` of ``query`` sorted by ``order`` (give a unique last key, so
    pages neither repeat nor skip rows), and how many rows ``query`` selects in all."""
    total = s.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = s.scalars(query.order_by(None).order_by(*order).offset((page - 1) * size).limit(size)).all()
    return rows, total
