"""Domain errors, raised by services and mapped to HTTP (problem+json) in one place, `portal.web.problems`."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any, Self

from portal.i18n import N_, NP_, Plural, translate_same

#: how the errors are translated: ``translate(msgid)``, and ``translate(singular, plural, num)`` for a message with
#: a plural form (portal.web.i18n.translate_message: gettext and ngettext; ``translate_same``: the English text)
Translate = Callable[..., str]
_same = translate_same
#: what follows the first of several problems (a deposit form's, a record's schema check)
MORE_PROBLEMS = NP_(" (and {num} more problem)", " (and {num} more problems)")


def _text(translate: Translate, template: str, params: dict[str, object]) -> str:
    """``template`` (a msgid, or a :class:`Plural` chosen by the ``num`` value) through ``translate``, not filled."""
    if isinstance(template, Plural):
        num = params.get("num")
        return translate(str(template), template.plural, num if isinstance(num, int) else 1)
    return translate(template)


def _located(translate: Translate, source: Any, record: Any, field: Any, detail: str) -> str:
    """``detail`` after where it is: ``source: record N: field F: detail`` (the parts there are)."""
    where = []
    if source:
        where.append(str(source))
    if record is not None:
        where.append(translate(N_("record {record}")).format(record=record))
    if field:
        where.append(translate(N_("field {field}")).format(field=field))
    return f"{': '.join(where)}: {detail}" if where else detail


class PortalError(Exception):
    """Base of the domain errors. ``title`` is short and fixed per class; ``detail`` names what is wrong.

    ``detail`` may be a message marked with ``N_`` whose ``{placeholders}`` are filled from ``params``: the web layer
    then shows it in the reader's language (``localized``); ``detail`` itself is always the English text.
    """

    status = 500
    title = N_("Internal error")

    def __init__(
        self,
        detail: str,
        *,
        source: str | None = None,
        record: str | int | None = None,
        field: str | None = None,
        **params: object,
    ) -> None:
        self.template = detail
        self.params: dict[str, Any] = params
        # Without params the text is taken as it is: an f-string's braces are not placeholders.
        english = _text(translate_same, detail, params)
        self.detail = english.format(**params) if params else english
        self.source = source
        self.record = record
        self.field = field
        super().__init__(self.message)

    @classmethod
    def like(cls, other: PortalError, **where: str | int | None) -> Self:
        """A ``cls`` error saying what ``other`` says: its message id and values, so it is still translated (passing
        ``other.message`` on would fix it in English). ``where`` (source, record, field) replaces ``other``'s."""
        located: dict[str, Any] = {"source": other.source, "record": other.record, "field": other.field, **where}
        return cls(other.template, **located, **other.params)

    @property
    def message(self) -> str:
        """One line naming where the problem is (file, record, field) and what it is."""
        return self.localized(_same)

    def localized(self, translate: Translate) -> str:
        """``message`` with every part passed through ``translate`` (a gettext), values filled in afterwards."""
        return _located(translate, self.source, self.record, self.field, self.localized_detail(translate))

    def localized_detail(self, translate: Translate) -> str:
        """``detail`` through ``translate``, values filled in afterwards (forms show it next to the field)."""
        text = _text(translate, self.template, self.params)
        return text.format(**self.params) if self.params else text

    def stored(self) -> dict[str, Any]:
        """What a database row keeps of this error so it can be shown later in the reader's language: the message
        id (and its plural), its values (as JSON: a value that is not a number, a string or a boolean is kept as
        its text) and where it is. :func:`stored_message` turns it back into text."""
        plural = self.template.plural if isinstance(self.template, Plural) else None
        return {
            "id": str(self.template),
            **({"plural": plural} if plural is not None else {}),
            "params": json_params(self.params),
            **{key: getattr(self, key) for key in ("source", "record", "field") if getattr(self, key) is not None},
        }

    def to_problem(self, translate: Translate = _same) -> dict[str, object]:
        problem: dict[str, object] = {
            "type": "about:blank",
            "title": translate(self.title),
            "status": self.status,
            "detail": self.localized(translate),
        }
        for key in ("source", "record", "field"):
            value = getattr(self, key)
            if value is not None:
                problem[key] = value
        return problem


class Notice(str):
    """A sentence of the portal's that is not an error (a builder's warning, say): its English text, which it is as
    a ``str``, and its message id and values, so a page or an event can say it in its reader's language. As a
    value of another message (``warning: {problem}``) it is kept whole and translated too."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Notice:
        english = template.format(**params) if params else template
        notice = super().__new__(cls, english)
        notice.template, notice.params = template, params
        return notice

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:  # copies (dataclasses.asdict) keep the id
        return (self.template,), self.params

    def stored(self) -> dict[str, Any]:
        return {"id": self.template, "params": json_params(self.params)}

    def localized(self, translate: Translate) -> str:
        return stored_message(self.stored(), translate)


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """A message's values as a row can keep them: numbers, strings, booleans and None as they are, a
    :class:`Notice` as its message id and values, others as text."""

    def kept(value: Any) -> Any:
        if isinstance(value, Notice):
            return value.stored()
        return value if isinstance(value, str | int | float | bool) or value is None else str(value)

    return {key: kept(value) for key, value in params.items()}


def stored_message(stored: dict[str, Any], translate: Translate = _same) -> str:
    """The text of an error kept by :meth:`PortalError.stored`, through ``translate`` (English by default); an
    ``error`` key (a class name, as a launch's stream says "BuildFailed: ...") prefixes it as it is."""
    plural = stored.get("plural")
    template = Plural(str(stored.get("id") or ""), plural) if plural else str(stored.get("id") or "")
    params = {  # a value that is itself a kept message (a Notice) is said in the reader's language too
        key: stored_message(value, translate) if isinstance(value, dict) and "id" in value else value
        for key, value in (stored.get("params") or {}).items()
    }
    prefix = f"{stored['error']}: " if stored.get("error") else ""

    def said(translate: Translate) -> str:
        # values are filled here, not through PortalError(**params): a value may be named like where a problem
        # is (a webhook refusal's "bad {source}: ..." names its source file)
        text = _text(translate, template, params)
        detail = text.format(**params) if params else text
        return prefix + _located(translate, stored.get("source"), stored.get("record"), stored.get("field"), detail)

    try:
        return said(translate)
    except (KeyError, IndexError, ValueError, TypeError):  # a translation naming a value the row lacks
        try:
            return said(_same)
        except (KeyError, IndexError, ValueError, TypeError):  # a text with braces that are not placeholders
            return prefix + str(template)


class Invalid(PortalError):
    status = 400
    title = N_("Invalid input")


class FieldInvalid(Invalid):
    """One field's problem in a form-shaped check: ``label`` (a msgid: the field's name on the form) is translated
    too, so a French reader sees the French name of the field next to it."""

    def localized_detail(self, translate: Translate) -> str:
        params = {**self.params, "label": translate(str(self.params.get("label", "")))}
        return _text(translate, self.template, params).format(**params)


class InvalidFields(Invalid):
    """Several fields refused at once (a deposit form): ``field`` and ``detail`` are the first problem's, and the
    problem+json carries them all as ``errors`` (``[{"field", "detail"}]``) for a form to show each at its field."""

    def __init__(self, errors: list[FieldInvalid]) -> None:
        assert errors
        first = errors[0]
        self.errors = errors  # before the base class, which renders the message with them
        super().__init__(first.template, field=first.field, **first.params)  # type: ignore[arg-type]

    def localized_detail(self, translate: Translate) -> str:
        more = len(self.errors) - 1
        detail = self.errors[0].localized_detail(translate)
        if not more:
            return detail
        return detail + _text(translate, MORE_PROBLEMS, {"num": more}).format(num=more)

    def to_problem(self, translate: Translate = _same) -> dict[str, object]:
        return {
            **super().to_problem(translate),
            "errors": [{"field": e.field, "detail": e.localized_detail(translate)} for e in self.errors],
        }


class NotFound(PortalError):
    status = 404
    title = N_("Not found")


class Gone(PortalError):
    status = 410
    title = N_("Gone")


class Removed(Gone):
    """A published version that was removed: its tombstone (why, when, and how to cite what was there)."""

    title = N_("Record removed")

    def __init__(
        self, detail: str, *, record: int, doi: str | None, reason: str, citation: str, removed_at: str
    ) -> None:
        # the record and the reason are the message's values too (``{recid}``, ``{reason}``): the curator's reason
        # stays in its own words, the sentence around it is translated
        super().__init__(detail, record=record, recid=record, reason=reason)
        self.doi = doi
        self.reason = reason
        self.citation = citation
        self.removed_at = removed_at

    def to_problem(self, translate: Translate = _same) -> dict[str, object]:
        return {
            **super().to_problem(translate),
            "doi": self.doi,
            "reason": self.reason,
            "citation": self.citation,
            "removed_at": self.removed_at,
        }


class Conflict(PortalError):
    status = 409
    title = N_("Conflict")


class Unauthorized(PortalError):
    """No (valid) credential: sign in, or send a personal access token (``Authorization: Bearer``)."""

    status = 401
    title = N_("Unauthorized")


class Forbidden(PortalError):
    status = 403
    title = N_("Forbidden")


class QuotaExceeded(PortalError):
    """A per-user (or per-client) quota is used up: answered 429, naming the quota in ``field``."""

    status = 429
    title = N_("Too many requests")


class TooLarge(PortalError):
    """An upload would go beyond a size or count quota (per record or per user): 413, naming the quota setting."""

    status = 413
    title = N_("Payload too large")


class ChecksumMismatch(Invalid):
    """The bytes received do not have the checksum the client declared. tus answers these 460 (its checksum
    extension); elsewhere they are 400 like any bad input."""

    title = N_("Checksum mismatch")


class Unavailable(PortalError):
    status = 503
    title = N_("Service unavailable")


class NoSpace(PortalError):
    """The disk (or the quota) that bytes go to is full: 507 Insufficient Storage, naming what could not be
    written. Whoever raises it has removed what it wrote partly, so the same request succeeds once space is freed."""

    status = 507
    title = N_("Insufficient storage")


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk (ENOSPC) or an exhausted quota (EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
