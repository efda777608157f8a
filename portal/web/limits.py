"""Rate limits (Flask-Limiter) on the routes that cost or that guess: sign-in, token creation, launches, analysis
jobs and the search API. A view opts in with one of the decorators below; the limit itself comes from settings.

Each app gets its own :class:`flask_limiter.Limiter` (built by :func:`register` from the app's settings, with its
own storage: `memory://` embedded, `redis://` shared by every worker at scale), so two apps in one process (tests,
or a second web worker) never share a configuration. The decorators therefore look the app's limiter up when the
view is called, not when the module is imported.

Counters are kept per client: the signed-in user's id when there is one, else the client's IP (right behind a
proxy once ``trusted_proxies`` is set); failed sign-ins always by IP. Each kind of limit has one budget shared by
all its routes (every launch route draws from the launch budget). A refused request gets 429 problem+json, like
every other error, with `Retry-After` in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Flask, Response, current_app, g

from portal.errors import Invalid, Unauthorized
from portal.i18n import N_
from portal.web.auth import principal
from portal.web.request import client_ip

if TYPE_CHECKING:
    from flask_limiter import Limiter

EXTENSION = "portal_limits"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class LimitKind:
    """One budget: the setting that holds its limit (e.g. ``"20 per minute"``), what a refusal says, whether
    only failed requests count (sign-in: a client is limited in its wrong guesses, not in signing in), and the
    methods it applies to (None: all; a form's page stays readable, only its submission is limited)."""

    name: str
    setting: str
    refusal: str
    failures_only: bool = False
    methods: tuple[str, ...] | None = None
    #: count by address even for a signed-in client: someone signed in to an account of their own (or to many)
    #: must not get a fresh budget of password guesses against other accounts
    by_address: bool = False


KINDS: dict[str, LimitKind] = {
    kind.name: kind
    for kind in (
        LimitKind(
            "signin",
            "ratelimit_signin",
            "too many failed sign-in attempts",
            failures_only=True,
            methods=("POST",),
            by_address=True,
        ),
        LimitKind("tokens", "ratelimit_tokens", "too many access tokens created", methods=("POST",)),
        LimitKind("launches", "ratelimit_launches", "too many sessions launched"),
        LimitKind("analyses", "ratelimit_analyses", "too many analysis jobs created"),
        LimitKind("search", "ratelimit_search", "too many search requests"),
    )
}


def client_key() -> str:
    """Whom a counter belongs to: ``user:<id>`` when the request is signed in (session or token), else
    ``ip:<address>``. A bad token counts against the address (the view then refuses it with 401)."""
    try:
        who = principal()
    except Unauthorized:
        who = None
    if who is not None and who.user_id is not None:
        return f"user:{who.user_id}"
    return address_key()


def address_key() -> str:
    """``ip:<address>``: the client's address (the forwarded one behind trusted proxies)."""
    return f"ip:{client_ip()}"


def count_as_failure() -> None:
    """Mark this request as a failed attempt for a ``failures_only`` limit (sign-in) even though it answers with
    a success status (e.g. a form shown again with its error at 200). Answers 400-499 count without it."""
    g.limit_failure = True


def _failed(response: Response) -> bool:
    # 429 is the limit's own answer: counting it would extend a lock-out for as long as the client keeps trying.
    status = response.status_code
    return bool(g.get("limit_failure")) or (400 <= status < 500 and status != 429)


@dataclass
class AppLimits:
    """The limiter of one app and the guarded views built from it (one per view and kind, built on first use)."""

    limiter: Limiter
    limits: dict[str, str]
    guarded: dict[tuple[str, Callable[..., Any]], Callable[..., Any]] = field(default_factory=dict)

    def guard(self, kind: LimitKind, view: Callable[..., Any]) -> Callable[..., Any]:
        found = self.guarded.get((kind.name, view))
        if found is None:
            limit = self.limits[kind.name]
            found = self.limiter.shared_limit(
                limit,
                scope=kind.name,
                key_func=address_key if kind.by_address else client_key,
                methods=list(kind.methods) if kind.methods else None,
                deduct_when=_failed if kind.failures_only else None,
                error_message=f"{kind.refusal} ({limit}); try again later",
            )(view)
            self.guarded[(kind.name, view)] = found
        return found


def limited(kind_name: str) -> Callable[[F], F]:
    """Decorate a view with the limit ``kind_name`` (a key of :data:`KINDS`). Put it under the route decorator."""
    kind = KINDS[kind_name]

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            limits: AppLimits | None = current_app.extensions.get(EXTENSION)
            if limits is None:  # rate limiting switched off (ratelimit_enabled = false)
                return view(*args, **kwargs)
            return limits.guard(kind, view)(*args, **kwargs)

        return cast(F, guarded)

    return decorate


#: The decorators by what they guard. `limit_signin` goes on the view that checks a password (POST /signin) and
#: counts only failures (a 4xx answer, or :func:`count_as_failure`); `limit_token_creation` on the view that
#: creates a personal access token.
limit_signin = limited("signin")
limit_token_creation = limited("tokens")
limit_launch = limited("launches")
limit_analyses = limited("analyses")
limit_search = limited("search")


def register(app: Flask) -> None:
    """Give ``app`` its limiter, from its settings (nothing when ``ratelimit_enabled`` is false)."""
    settings = app.extensions["portal"].settings
    if not settings.ratelimit_enabled:
        return
    from flask_limiter import Limiter
    from limits import parse_many

    limits: dict[str, str] = {}
    for kind in KINDS.values():
        text = getattr(settings, kind.setting)
        try:
            parse_many(text)
        except ValueError as exc:
            env = "PORTAL_" + kind.setting.upper()
            raise Invalid(
                N_("setting {env}: {text!r} is not a rate limit like '20 per minute'"), env=env, text=text, field=env
            ) from exc
        limits[kind.name] = text
    from limits.errors import ConfigurationError

    try:
        limiter = Limiter(
            key_func=client_key,
            app=app,
            storage_uri=settings.ratelimit_storage_uri,
            strategy="moving-window",
            headers_enabled=True,  # X-RateLimit-* on limited routes, and Retry-After (seconds) on a 429
            retry_after="delta-seconds",
            # a shared store that goes away (Redis restarting) must not turn every limited route into a 500:
            # count in this process meanwhile, and go back to the store when it answers again
            in_memory_fallback_enabled=True,
            swallow_errors=True,
        )
    except ConfigurationError as exc:  # an unknown scheme, or redis:// without the redis client installed
        raise Invalid(
            N_("setting PORTAL_RATELIMIT_STORAGE_URI: {exc}"), exc=exc, field="PORTAL_RATELIMIT_STORAGE_URI"
        ) from exc
    app.extensions[EXTENSION] = AppLimits(limiter, limits)
