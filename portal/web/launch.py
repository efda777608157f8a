"""Launch routes: Binder-compatible /v2 and /build URLs, record and named-environment launches, SSE progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Response, jsonify, render_template, request, session, stream_with_context, url_for

from portal.environments.builders import localized_event
from portal.errors import NotFound, PortalError, Unavailable
from portal.extras import require
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import Principal
from portal.launch.kinds import DatasetLaunch, EnvLaunch, GitLaunch, LaunchKind, LessonLaunch, RecordLaunch
from portal.launch.manager import Environment, LaunchJob, LaunchManager
from portal.launch.people import anonymous_username, launch_user
from portal.launch.queued import StoredLaunch
from portal.ops import metrics
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message
from portal.web.limits import limit_launch
from portal.web.oauth import ANON_SESSION
from portal.web.request import QueryURL, client_ip, int_arg, paginate

bp = Blueprint("launch", __name__)


def _fileset_readable(recids: list[int], *, skip_missing: bool = False) -> None:
    """A launch puts the files of these records in the session's fileset: the asker must be allowed to read
    them (401/403/404 from the policy otherwise). A lesson's fileset leaves out records not in the catalogue
    (``skip_missing``), as the launch itself does."""
    access = services().access
    for recid in recids:
        try:
            target, _rights = access.rights(recid)
        except NotFound:
            if skip_missing:
                continue
            raise
        access.require_files(principal(), target)


def _lesson_uses(slug: str) -> list[int]:
    return [int(r) for r in services().lessons.find(slug).spec.get("uses") or [] if str(r).isdigit()]


def _launches() -> LaunchManager:
    """The launch manager, once the request may launch (policy: ``launch`` scope, or anonymous when allowed)."""
    _launcher()
    manager = services().launches
    if manager is None:
        require("launch", N_("launching environments"))
    if manager is None or not services().settings.launch_enabled:
        raise Unavailable(N_("launching environments is switched off here (PORTAL_LAUNCH_ENABLED)"))
    return manager


def _launch_user() -> str:
    """The hub user this request launches as: the signed-in person's own, or this browser's anonymous one
    (created on its first launch, when anonymous launches are on); 401 otherwise."""
    settings = services().settings
    who = principal()
    anon = session.get(ANON_SESSION)
    if who.user_id is None and settings.launch_anonymous and not isinstance(anon, str):
        anon = session[ANON_SESSION] = anonymous_username()
    return launch_user(
        who,
        prefix=settings.launch_user_prefix,
        anonymous_allowed=settings.launch_anonymous,
        anonymous_name=anon if isinstance(anon, str) else None,
    )


def _launcher() -> Principal:
    """The request's principal, once the policy lets it launch (``launch`` scope; anonymous visitors only while
    both PORTAL_LAUNCH_ANONYMOUS is on and PORTAL_QUOTA_LAUNCHES_ANONYMOUS is not -1)."""
    settings = services().settings
    who = principal()
    policy.require_launch(who, anonymous_allowed=settings.launch_anonymous and services().sessions.anonymous_allowed)
    return who


def _check(kind: LaunchKind) -> str:
    label = _launches().check(kind)
    _launch_user()  # refused before the page, not only once its event stream starts
    return label


def _start(kind: LaunchKind) -> LaunchJob | StoredLaunch:
    """Start ``kind`` as a session of the request's principal on its own hub user: checked, counted against its
    quota (429 beyond), recorded (for "my sessions"), and queued for a worker, which records how it ended."""
    manager = _launches()
    label = manager.check(kind)  # bad input is refused before it counts against a quota
    who = _launcher()
    user = _launch_user()
    sessions = services().sessions
    session_id = sessions.begin(who, client_ip(), label, None)
    metrics.LAUNCHES.labels(type(kind).__name__.removesuffix("Launch").lower()).inc()
    try:
        job = manager.start(kind, user=user, session_id=session_id, owner_id=who.user_id)
    except PortalError as exc:
        sessions.finish(session_id, "failed", message=exc.message, message_text=exc.stored())
        raise
    if isinstance(job, LaunchJob):  # no queue: the launch runs in this process, watched here
        sessions.follow(session_id, job)
    return job


def _notebook() -> str:
    # Binder: urlpath is a server URL path (e.g. lab/tree/x.ipynb or tree/x.ipynb); labpath a file path.
    labpath = request.args.get("labpath", "")
    urlpath = request.args.get("urlpath", "")
    for prefix in ("lab/tree/", "tree/", "notebooks/", "doc/tree/"):
        if urlpath.startswith(prefix):
            return urlpath[len(prefix) :]
    return labpath or urlpath


def _raw_rest(prefix: str) -> str:
    # The repository URL arrives %-encoded; the raw URI keeps its '//' that routing would merge.
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    return raw.split("?", 1)[0].split(prefix, 1)[1]


def _git_args(prefix: str) -> tuple[str, str]:
    url, _, ref = _raw_rest(prefix).rpartition("/")
    return unquote(url), unquote(ref) or "HEAD"


def _page(label: str, events_url: str) -> Any:
    # The page's EventSource both starts and follows the launch in one request, so any web worker can serve it.
    query = request.query_string.decode()
    return render_template("launch.html", label=label, events_url=events_url + (f"?{query}" if query else ""))


def _sse(job: LaunchJob | StoredLaunch) -> Response:
    def stream() -> Iterator[str]:
        for event in job.stream():
            if event is None:
                yield ": heartbeat\n\n"
                continue
            # a worker wrote the event with no reader: its failure is translated here, in the reader's language
            yield f"data: {json.dumps(localized_event(event, translate_message))}\n\n"

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/v2/gh/<owner>/<repo>/<path:ref>")
def v2_gh(owner: str, repo: str, ref: str) -> Any:
    label = _check(GitLaunch(f"https://github.com/{owner}/{repo}", ref, notebook=_notebook()))
    return _page(label, url_for("launch.build_gh", owner=owner, repo=repo, ref=ref))


@bp.get("/v2/git/<path:rest>")
def v2_git(rest: str) -> Any:
    url, ref = _git_args("/v2/git/")
    label = _check(GitLaunch(url, ref, notebook=_notebook()))
    return _page(label, "/build/git/" + _raw_rest("/v2/git/"))


@bp.get("/build/gh/<owner>/<repo>/<path:ref>")
@limit_launch
def build_gh(owner: str, repo: str, ref: str) -> Response:
    return _sse(_start(GitLaunch(f"https://github.com/{owner}/{repo}", ref, notebook=_notebook())))


@bp.get("/build/git/<path:rest>")
@limit_launch
def build_git(rest: str) -> Response:
    url, ref = _git_args("/build/git/")
    return _sse(_start(GitLaunch(url, ref, notebook=_notebook())))


def _doi_kind(doi: str) -> LaunchKind:
    """Binder's ``zenodo`` provider names a record by its DOI: a dataset opens with its starter notebook, any
    other record in the environment it names."""
    view = services().catalog.find_by_doi(doi)
    _fileset_readable([view.recid])
    if (view.metadata.get("type") or {}).get("primary") == "Dataset":
        return DatasetLaunch(view.recid, request.args.get("env", ""), notebook=_notebook())
    return RecordLaunch(view.recid, notebook=_notebook())


@bp.get("/v2/zenodo/<path:doi>")
def v2_doi(doi: str) -> Any:
    label = _check(_doi_kind(doi))
    return _page(label, url_for("launch.build_doi", doi=doi))


@bp.get("/build/zenodo/<path:doi>")
@limit_launch
def build_doi(doi: str) -> Response:
    return _sse(_counted(_start(_doi_kind(doi))))


@bp.get("/launch/env/<name>")
def env(name: str) -> Any:
    label = _check(EnvLaunch(name, notebook=_notebook()))
    return _page(label, url_for("launch.env_events", name=name))


@bp.get("/launch/env/<name>/events")
@limit_launch
def env_events(name: str) -> Response:
    return _sse(_start(EnvLaunch(name, notebook=_notebook())))


@bp.get("/launch/record/<int:recid>")
def record(recid: int) -> Any:
    _fileset_readable([recid])
    label = _check(RecordLaunch(recid, notebook=_notebook()))
    return _page(label, url_for("launch.record_events", recid=recid))


def _counted(job: LaunchJob | StoredLaunch) -> LaunchJob | StoredLaunch:
    # A launch of a record version (or a lesson record) is a usage event, queued like views and downloads.
    if job.recid is not None:
        services().stats.record("launch", job.recid, ip=client_ip(), user_agent=request.user_agent.string)
    return job


@bp.get("/launch/record/<int:recid>/events")
@limit_launch
def record_events(recid: int) -> Response:
    _fileset_readable([recid])
    return _sse(_counted(_start(RecordLaunch(recid, notebook=_notebook()))))


@bp.get("/launch/dataset/<int:recid>")
def dataset(recid: int) -> Any:
    """A dataset in the environment of ``?env=`` (default: the one it recommends), with a starter notebook."""
    _fileset_readable([recid])
    label = _check(DatasetLaunch(recid, request.args.get("env", ""), notebook=_notebook()))
    return _page(label, url_for("launch.dataset_events", recid=recid))


@bp.get("/launch/dataset/<int:recid>/events")
@limit_launch
def dataset_events(recid: int) -> Response:
    _fileset_readable([recid])
    return _sse(_counted(_start(DatasetLaunch(recid, request.args.get("env", ""), notebook=_notebook()))))


@bp.get("/launch/lesson/<slug>")
def lesson(slug: str) -> Any:
    _fileset_readable(_lesson_uses(slug), skip_missing=True)
    label = _check(LessonLaunch(slug, notebook=_notebook()))
    return _page(label, url_for("launch.lesson_events", slug=slug))


@bp.get("/launch/lesson/<slug>/events")
@limit_launch
def lesson_events(slug: str) -> Response:
    _fileset_readable(_lesson_uses(slug), skip_missing=True)
    return _sse(_counted(_start(LessonLaunch(slug, notebook=_notebook()))))


@bp.get("/api/environments")
def environments_api() -> Any:
    """The analysis environments this portal launches, with their build key and whether it is built."""
    manager = services().launches
    envs = [
        {
            **env.as_dict(),
            "unsupported": [problem.localized(translate_message) for problem in env.unsupported],
            "launch": url_for("launch.env", name=env.name, _external=True),
        }
        if isinstance(env, Environment)
        else env.as_dict(translate_message)  # why it is broken, in the reader's language
        for env in (manager.environments() if manager is not None else [])
    ]
    return jsonify({"environments": envs, "builds": url_for("launch.builds_api", _external=True)})


@bp.get("/api/environments/builds")
def builds_api() -> Any:
    manager = services().launches
    page, size = int_arg("page", 1), int_arg("size", 20, maximum=services().settings.api_max_page_size)
    items, total = manager.builds(page=page, size=size) if manager is not None else ([], 0)
    url = QueryURL(url_for("launch.builds_api", _external=True), {"page": [page], "size": [size]})
    links = paginate(url, page=page, has_next=page * size < total)
    hits = [build.as_dict() for build in items]
    return jsonify({"hits": {"total": total, "hits": hits}, "page": page, "size": size, "links": links})
