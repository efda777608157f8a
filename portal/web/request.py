"""What every view needs from the request: typed arguments, the client address, and
`paginate()`, the one place where listings (page numbers or cursors) build their links."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import request
from werkzeug.routing import BaseConverter

from portal.errors import Invalid, NotFound
from portal.i18n import N_

TRUE = frozenset({"1", "true", "yes"})

# Record ids, job ids and page numbers are INTEGER columns or offsets: PostgreSQL's INTEGER is 32 bits, and a
# larger number reaching SQL is an overflow error (a 500), so every integer taken from a request is bounded here.
MAX_ID = 2**31 - 1
# File positions are BIGINT (a dataset may list more files than an INTEGER counts).
MAX_POSITION = 2**63 - 1


class IdConverter(BaseConverter):
    """The `int` route converter, installed in place of werkzeug's: it also matches negative and huge numbers,
    so that :func:`check_path_ids` answers them with a 404 naming the parameter instead of a bare "no route"
    (or an overflow in the database)."""

    regex = r"-?\d+"
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: object) -> str:
        return str(int(value))  # type: ignore[call-overload]


def check_path_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Refuse integer path parameters outside 1..MAX_ID: no record or job can have such an id.

    Raises:
        NotFound: naming the parameter.
    """
    for name, value in (values or {}).items():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound(
                N_("{name} must be an integer between 1 and {MAX_ID}, got {value}"),
                name=name,
                MAX_ID=MAX_ID,
                value=value,
                field=name,
            )


def bounded_id(value: object, name: str) -> int:
    """``value`` (a JSON number or a string of digits) as an id in 1..MAX_ID.

    Raises:
        Invalid: naming ``name`` when it is not such an id.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema counts 5.0 as an integer, and so do JSON clients that send it
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise Invalid(N_("{name} must be a record id (a positive integer)"), name=name, field=name)
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise Invalid(
            N_("{name} must be an integer between 1 and {MAX_ID}, got {number}"),
            name=name,
            MAX_ID=MAX_ID,
            number=number,
            field=name,
        )
    return number


def int_arg(name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    """The query argument ``name`` as an integer within bounds (``maximum`` defaults to MAX_ID, so nothing
    reaches SQL as an overflow); ``default`` when absent.

    Raises:
        Invalid: naming the argument, when it is not an integer or out of bounds.
    """
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(N_("{name} must be an integer, got {raw!r}"), name=name, raw=raw, field=name) from None
    if value < minimum or value > (maximum if maximum is not None else MAX_ID):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        if maximum is None and value > MAX_ID:
            bounds = f"between {minimum} and {MAX_ID}"
        raise Invalid(N_("{name} must be {bounds}, got {value}"), name=name, bounds=bounds, value=value, field=name)
    return value


def json_body() -> Any:
    """The request's JSON body, or None when it is absent or not JSON at all (the caller says what it expects).

    Werkzeug's ``get_json(silent=True)`` swallows only ValueError: a body nested thousands of levels deep
    (``[[[[…``) makes the JSON decoder raise RecursionError, which would reach the client as a 500.

    Raises:
        Invalid: for a body nested too deeply to decode.
    """
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise Invalid(N_("the JSON body is nested too deeply"), field="body") from None


def required_arg(name: str) -> str:
    """The non-empty query argument ``name``. Raises Invalid naming it when it is missing or empty."""
    value = request.args.get(name)
    if not value:
        raise Invalid(N_("the {name} parameter is required"), name=name, field=name)
    return value


def range_arg(name: str) -> tuple[float, float] | None:
    """The query argument ``name`` given as two numbers ``low,high``; None when absent. Raises Invalid."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        low, high = (float(x) for x in raw.split(","))
    except ValueError:
        raise Invalid(N_("{name} must be two numbers low,high; got {raw!r}"), name=name, raw=raw, field=name) from None
    # nan and inf parse as floats but make no bin edges; an empty or reversed range has no bins either
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise Invalid(
            N_("{name} must be two finite numbers low,high with low < high; got {raw!r}"),
            name=name,
            raw=raw,
            field=name,
        )
    return low, high


def flag_arg(name: str, *, bare: bool = False) -> bool:
    """Whether the query argument ``name`` is 1/true/yes (any case). ``bare``: whether `?name` alone counts."""
    raw = request.args.get(name)
    if raw is None:
        return False
    return raw.lower() in TRUE or (bare and raw == "")


def client_ip() -> str:
    """The client's address. Behind reverse proxies, `PORTAL_TRUSTED_PROXIES` applies werkzeug's ProxyFix
    (`web/headers.py`), which rewrites remote_addr from the X-Forwarded-For the proxies append."""
    return request.remote_addr or ""


class QueryURL:
    """A URL with query arguments; calling it with changes gives the URL with those arguments changed.

    A change replaces an argument's values where it stands (or adds it at the end); a list gives several
    values, None removes the argument. Repeated arguments are grouped under their first position, and the
    query is always written after a `?`, even when empty, as the links of the portal always were.
    """

    def __init__(self, base: str, args: Mapping[str, Iterable[Any]] | None = None) -> None:
        self.base = base
        source: Any = args if args is not None else {}
        getlist = getattr(source, "getlist", None)
        self.args: dict[str, list[str]] = {
            key: [str(v) for v in (getlist(key) if getlist else source[key])] for key in source
        }

    @classmethod
    def of_request(cls) -> QueryURL:
        """This request's URL (without its query) and its arguments."""
        return cls(request.base_url, request.args)

    def __call__(self, **changes: Any) -> str:
        args = dict(self.args)
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        return f"{self.base}?{urlencode(args, doseq=True)}"


def paginate(
    url: Callable[..., str],
    *,
    self_url: str | None = None,
    page: int | None = None,
    last: int | None = None,
    has_next: bool | None = None,
    cursor: tuple[str, Any] | None = None,
    first: bool | None = None,
) -> dict[str, str]:
    """The `links` of one page of a listing: `self`, then `first`, `last`, `prev` and `next` where they exist.

    Args:
        url: builds a link from argument changes, ``url(page=3)`` (a :class:`QueryURL`, or any callable that
            takes the changes as keywords and treats None as "leave this argument out").
        self_url: the link to this page as requested; ``url()`` when not given.
        page: the page number, for a page-number listing (None for a cursor listing, or for a listing that
            can do both when this request came with a cursor). Gives `prev` when above 1.
        last: the number of the last page, when known: gives `last`, and `next` below it.
        has_next: whether a page follows, for page-number listings whose last page is not computed.
        cursor: (argument name, cursor of the next page or None at the end), for cursor listings. Its `next`
            carries the cursor and drops the page number: a cursor names its position by itself.
        first: whether to give `first` (default: when ``last`` is known). For a cursor listing it is the
            listing without the cursor.
    """
    links = {"self": self_url if self_url is not None else url()}
    if first if first is not None else last is not None:
        links["first"] = url(page=1) if page is not None else url(**({cursor[0]: None} if cursor else {}))
    if last is not None:
        links["last"] = url(page=last)
    if page is not None and page > 1:
        links["prev"] = url(page=page - 1)
    if cursor is not None:
        name, following = cursor
        if following is not None:
            links["next"] = url(**{name: following, "page": None})
    elif page is not None and (has_next if has_next is not None else last is not None and page < last):
        links["next"] = url(page=page + 1)
    return links


def refuse_nul_bytes() -> None:
    """Refuse a query argument holding a NUL byte, naming it: PostgreSQL cannot store or compare such a
    string (it would fail as a 500 deep in a query), and no identifier, key or search term contains one.

    Raises:
        Invalid: naming the argument.
    """
    for name, value in request.args.items(multi=True):
        if "\x00" in value or "\x00" in name:
            raise Invalid(N_("{name!r} holds a NUL byte"), name=name, field=name.replace("\x00", "\\0"))
