"""Sign-in, sign-out, sign-up and profile pages (no JavaScript needed). Forms are CSRF-checked (portal.web.csrf).

A form refused for its content is shown again with the message (and the status of the error); anything else
(an OpenID Connect answer that does not validate, say) is the error page naming the problem.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from portal.errors import Forbidden, Invalid, PortalError, Unauthorized
from portal.i18n import N_
from portal.identity.principal import ANONYMOUS, Principal
from portal.identity.users import UserInfo
from portal.web import services
from portal.web.auth import principal, sign_in, sign_out
from portal.web.limits import limit_signin
from portal.web.request import client_ip

bp = Blueprint("auth", __name__)

PENDING = "oidc"  # session key: the sign-in a browser started at a provider (state, nonce, PKCE verifier, next)
DISPLAY_NAME = "name"  # session key: the signed-in user's name, for the page header


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this portal only (never another site: an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.home")


def _start_session(user: UserInfo) -> None:
    sign_in(user)
    session[DISPLAY_NAME] = user.name or user.username


def _signin_page(status: int = 200, *, error: PortalError | None = None, login: str = "") -> tuple[str, int]:
    signin = services().signin
    html = render_template(
        "accounts/signin.html",
        local=signin.local is not None,
        providers=signin.choices(),
        signup_open=signin.signup_open,
        next=request.values.get("next", ""),
        error=error,
        login=login,
    )
    return html, status


@bp.route("/signin", methods=["GET", "POST"])
@limit_signin  # failed password checks (answered 4xx) per address; the 21st in a minute gets 429
def signin() -> Any:
    if request.method == "GET":
        return _signin_page()
    login = request.form.get("username", "")
    try:
        user = services().signin.password(login, request.form.get("password", ""), ip=client_ip())
    except (Invalid, Unauthorized, Forbidden) as err:
        return _signin_page(err.status, error=err, login=login)
    _start_session(user)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/signin/oidc/<provider>")
def oidc_start(provider: str) -> Response:
    """The browser leaves for the provider; what comes back is checked against what this keeps."""
    start = services().signin.begin(provider, _callback_url(provider))
    session[PENDING] = {**start.pending, "next": safe_next(request.form.get("next"))}
    return redirect(start.url)  # type: ignore[return-value]


@bp.get("/signin/oidc/<provider>/callback")
def oidc_callback(provider: str) -> Response:
    pending: dict[str, str] = session.pop(PENDING, None) or {}  # one use: a replayed answer finds nothing
    user = services().signin.complete(
        provider, pending, request.args.to_dict(), _callback_url(provider), ip=client_ip()
    )
    _start_session(user)
    return redirect(safe_next(pending.get("next")))  # type: ignore[return-value]


def _callback_url(provider: str) -> str:
    # the portal's public URL, as registered with the provider (not the Host header a request happens to carry)
    return services().settings.base_url.rstrip("/") + url_for("auth.oidc_callback", provider=provider)


@bp.post("/signout")
def signout() -> Response:
    services().signin.signed_out(principal(), ip=client_ip())
    sign_out()
    return redirect(url_for("pages.home"))  # type: ignore[return-value]


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    signin = services().signin
    if not signin.signup_open:
        err = Forbidden(N_("sign-up is closed on this portal; ask an administrator for an account"), field="signup")
        if request.method == "POST":
            raise err
        return render_template("accounts/signup.html", closed=True, error=err, form={}), 403
    form = request.form.to_dict() if request.method == "POST" else {}
    if request.method == "GET":
        return render_template("accounts/signup.html", closed=False, error=None, form=form)
    try:
        if form.get("password", "") != form.get("password2", ""):
            raise Invalid(N_("the two passwords differ"), field="password2")
        user = signin.sign_up(
            form.get("username", "").strip(),
            name=form.get("name", ""),
            email=form.get("email", "").strip() or None,
            password=form.get("password", ""),
            ip=client_ip(),
        )
    except PortalError as err:
        for secret in ("password", "password2"):  # never sent back into the page
            form.pop(secret, None)
        return render_template("accounts/signup.html", closed=False, error=err, form=form), err.status
    _start_session(user)
    return redirect(url_for("auth.profile"))


def _signed_in() -> Principal | None:
    who = principal()
    return who if who.user_id is not None and who.via == "session" else None


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> Any:
    who = _signed_in()
    if who is None or who.user_id is None:
        return redirect(url_for("auth.signin", next=request.path))
    users = services().users
    user = users.get(who.user_id)
    error: PortalError | None = None
    saved = False
    if request.method == "POST":
        try:
            user = users.update_profile(
                who,
                who.user_id,
                name=request.form.get("name", ""),
                email=user.email,
                orcid=request.form.get("orcid", "").strip() or None,
            )
            session[DISPLAY_NAME] = user.name or user.username
            saved = True
        except PortalError as err:
            error = err
    html = render_template("accounts/profile.html", user=user, error=error, saved=saved)
    return html, error.status if error else 200


def header_identity() -> dict[str, object]:
    """What the page header shows: the signed-in user's name (and a sign-out button), or "Sign in"."""
    try:
        who = principal()
    except PortalError:  # a bad bearer token on a page: the page (an error page, then) shows "Sign in"
        who = ANONYMOUS
    if who.user_id is None or who.via != "session":
        endpoint = request.endpoint or ""
        back = request.method == "GET" and endpoint and not endpoint.startswith(("auth.", "static"))
        return {"signed_in": None, "signin_next": request.full_path.rstrip("?") if back else None}
    return {"signed_in": who, "display_name": session.get(DISPLAY_NAME) or who.username}
