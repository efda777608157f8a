"""The permission policy, in one place: API routes, pages and the command line ask here.

Every refusal is a typed error: :class:`Unauthorized` (401) when nobody is signed in and a credential would
help, :class:`Forbidden` (403) naming the missing scope or role otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from portal.catalog.access import AccessRights
from portal.errors import Forbidden, NotFound, QuotaExceeded, TooLarge, Unauthorized
from portal.i18n import N_
from portal.identity.principal import SCOPES, Principal


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse unless ``principal`` may act with ``scope`` (one of :data:`SCOPES`)."""
    assert scope in SCOPES, scope
    if not principal.authenticated:
        raise Unauthorized(
            N_("sign in or send a personal access token with the {scope!r} scope"), scope=scope, field="scope"
        )
    if scope not in principal.scopes:
        if principal.token_scopes is not None and scope not in principal.token_scopes:
            raise Forbidden(
                N_("this token lacks the {scope!r} scope ({help})"), scope=scope, help=SCOPES[scope], field="scope"
            )
        raise Forbidden(
            N_("your account's roles do not grant the {scope!r} scope ({help})"),
            scope=scope,
            help=SCOPES[scope],
            field="scope",
        )


def require_role(principal: Principal, role: str) -> None:
    if not principal.authenticated:
        raise Unauthorized(N_("sign in as a user with the {role!r} role"), role=role, field="role")
    if not principal.has_role(role):
        raise Forbidden(N_("this needs the {role!r} role"), role=role, field="role")


def may_edit(principal: Principal, owners: Iterable[int]) -> bool:
    """Owners edit their own drafts; curators (scope ``curate``) edit any."""
    return "curate" in principal.scopes or (principal.user_id is not None and principal.user_id in set(owners))


def require_edit(principal: Principal, owners: Iterable[int], *, what: str) -> None:
    require_scope(principal, "deposit:write")
    if not may_edit(principal, owners):
        raise Forbidden(N_("only the owners of {what} or a curator may change it"), what=what, field="owner")


# ------------------------------------------------------------------ reading: access rights on records and files
# Kept apart from the write permissions above: these decide who may READ a record's metadata and its bytes.


def may_read_restricted(principal: Principal, group: str | None) -> bool:
    """Whether ``principal`` may read what a record restricts to ``group``: its members, curators and admins
    (scope ``curate``), and the server's command line."""
    if principal.via == "cli" or "curate" in principal.scopes:
        return True
    return principal.authenticated and group is not None and group in principal.groups


def can_read_record(principal: Principal, rights: AccessRights, now: datetime) -> bool:
    """Whether ``principal`` may see the record's metadata at ``now`` (only a restricted record hides it)."""
    return not rights.record_restricted(now) or may_read_restricted(principal, rights.group)


def can_read_files(principal: Principal, rights: AccessRights, now: datetime) -> bool:
    """Whether ``principal`` may read the record's bytes at ``now`` (downloads, packs, previews, analyses,
    launch filesets, file indices)."""
    if not can_read_record(principal, rights, now):
        return False
    return not rights.files_restricted(now) or may_read_restricted(principal, rights.group)


def require_read_record(principal: Principal, rights: AccessRights, now: datetime, *, recid: int) -> None:
    """Refuse with 404 (as if the record did not exist: its existence is not revealed) unless readable."""
    if not can_read_record(principal, rights, now):
        raise NotFound(N_("there is no record {recid}"), recid=recid, record=recid)


def require_read_files(principal: Principal, rights: AccessRights, now: datetime, *, recid: int) -> None:
    """Refuse unless ``principal`` may read the files: 404 when the record itself is hidden, 401 when nobody is
    signed in, 403 for a signed-in user outside the group."""
    require_read_record(principal, rights, now, recid=recid)
    if can_read_files(principal, rights, now):
        return
    _state, label = rights.state(now)
    if not principal.authenticated:
        raise Unauthorized(
            N_("the files of record {recid} are not open ({label}): sign in"), recid=recid, label=label, field="access"
        )
    raise Forbidden(
        N_("the files of record {recid} are not open to you ({label})"), recid=recid, label=label, field="access"
    )


def _require_role_scope(principal: Principal, role: str, scope: str) -> None:
    """Refuse unless ``principal`` has ``role`` and its credential carries ``scope``: 401 for nobody, 403 naming the
    role for an account without it, 403 naming the scope for a token of such an account made without it."""
    if not principal.authenticated:
        raise Unauthorized(N_("sign in as a user with the {role!r} role"), role=role, field="role")
    # the account's own scopes, whatever the token carries: an admin's roles grant what a curator's do
    if not principal.has_role(role) and scope not in replace(principal, token_scopes=None).scopes:
        raise Forbidden(N_("this needs the {role!r} role"), role=role, field="role")
    if scope not in principal.scopes:
        raise Forbidden(
            N_("this token lacks the {scope!r} scope ({help})"), scope=scope, help=SCOPES[scope], field="scope"
        )


# -- records ----------------------------------------------------------------------------------------------------
def require_new_version(principal: Principal, owners: Iterable[int | None]) -> None:
    """Starting a new version (a draft) of a record: its owners or a curator, with ``deposit:write``."""
    require_edit(principal, [o for o in owners if o is not None], what="this record")


def require_hand_over(principal: Principal) -> None:
    """Starting a draft on someone else's behalf (making them its owner): curators."""
    _require_role_scope(principal, "curator", "curate")


def require_edit_draft(principal: Principal, owner: int | None, recid: int) -> None:
    """Changing a draft: its owner or a curator, with ``deposit:write``."""
    require_edit(principal, [owner] if owner is not None else [], what=f"draft {recid}")


def require_publish(principal: Principal) -> None:
    """Publishing a draft into the catalogue's curated collections: curators, with ``deposit:publish``."""
    require_scope(principal, "deposit:publish")
    _require_role_scope(principal, "curator", "curate")


def require_publish_directly(principal: Principal) -> None:
    """Publishing a draft without review where owners may not (`deposit_owners_publish` off): curators, with
    ``deposit:publish``; anyone else is told the two ways forward."""
    require_scope(principal, "deposit:publish")
    if not principal.has_role("curator") and "curate" not in principal.scopes:
        raise Forbidden(
            N_(
                "on this site only users with the {role!r} role publish directly: name a curated collection "
                "(`collection`) and submit the draft for review, or ask a curator to publish it"
            ),
            role="curator",
            field="role",
        )
    _require_role_scope(principal, "curator", "curate")


# -- review of drafts submitted to curated collections ----------------------------------------------------------
def require_submit_review(principal: Principal, owner: int | None, recid: int) -> None:
    """Submitting a draft to a collection (and resubmitting it): its owner or a curator, with ``deposit:publish``."""
    require_scope(principal, "deposit:publish")
    if "curate" not in principal.scopes and (owner is None or principal.user_id != owner):
        raise Forbidden(N_("only the owner of draft {recid} may submit it for review"), recid=recid, field="owner")


def require_review(principal: Principal, *, is_curator: bool, collection: str) -> None:
    """Accepting or declining a review request: a curator of its collection (a listed user or a member of its
    curator group), with ``deposit:publish``. Site curators of other collections are not enough."""
    require_scope(principal, "deposit:publish")
    if not is_curator and principal.via != "cli":
        raise Forbidden(
            N_("only the curators of collection {collection!r} may accept or decline its requests"),
            collection=collection,
            field="curator",
        )


def require_cancel_review(principal: Principal, owner: int | None) -> None:
    """Cancelling a submitted request: the draft's owner, with ``deposit:write``."""
    require_scope(principal, "deposit:write")
    if principal.via != "cli" and (owner is None or principal.user_id != owner):
        raise Forbidden(N_("only the owner of the draft may cancel its review request"), field="owner")


def require_manage_collections(principal: Principal) -> None:
    """Creating collections and naming their curators: admins (with the ``admin`` scope)."""
    _require_role_scope(principal, "admin", "admin")


# -- software from git releases ---------------------------------------------------------------------------------
def require_connect_repository(principal: Principal, *, owners_publish: bool) -> None:
    """Connecting a git repository whose published releases become versions of a software record: a signed-in
    user whose credential carries ``deposit:write`` and ``deposit:publish``, and who may publish without review
    (a curator, or anyone where the site lets owners publish: `deposit_owners_publish`), since its webhook
    publishes on their behalf, as they could themselves."""
    if principal.user_id is None:
        raise Unauthorized(N_("sign in to connect a repository"), field="user")
    require_scope(principal, "deposit:write")
    require_scope(principal, "deposit:publish")
    if not owners_publish and "curate" not in principal.scopes:
        raise Forbidden(
            N_(
                "on this site only curators publish (deposit_owners_publish is off), "
                "and a connected repository's releases are published as they arrive: "
                "ask a curator to connect it"
            ),
            field="deposit_owners_publish",
        )


def require_see_repository(principal: Principal, owner: int) -> None:
    """A connected repository and its deliveries: its owner or a curator; 404 for anyone else (its existence is
    not revealed)."""
    if principal.user_id == owner or "curate" in principal.scopes:
        return
    if not principal.authenticated:
        raise Unauthorized(N_("sign in to see your repositories"), field="user")
    raise NotFound(N_("there is no such connected repository"), field="repository")


def require_publish_own(principal: Principal, owner: int | None) -> None:
    """Publishing a personal (uncurated) upload where the site lets owners publish (`deposit_owners_publish`):
    its owner or a curator, with ``deposit:publish``."""
    require_scope(principal, "deposit:publish")
    if "curate" not in principal.scopes and (owner is None or principal.user_id != owner):
        raise Forbidden(N_("only the owner of this draft or a curator may publish it"), field="owner")


def require_upload_quota(quota: str, used: int, adding: int, limit: int, *, recid: int | None = None) -> None:
    """Refuse (413 naming the ``quota`` setting as the field) when ``used + adding`` goes beyond ``limit`` (0: no
    limit): files or bytes, of draft ``recid`` (named as the problem's record) or of a user's unpublished uploads
    (``recid`` None). The setting's name says which count it is, so one message serves them all."""
    if limit > 0 and used + adding > limit:
        raise TooLarge(
            N_("{used} used + {adding} more would exceed {quota} = {limit}"),
            used=used,
            adding=adding,
            quota=quota,
            limit=limit,
            field=quota,
            record=recid,
        )


def require_cite(principal: Principal, owners: Iterable[int]) -> None:
    """Adding or removing an external work that cites a record: its owners or a curator, with ``deposit:write``."""
    require_edit(principal, owners, what="this record's citations")


def may_cite(principal: Principal, owners: Iterable[int]) -> bool:
    """Whether the record page offers ``principal`` the form that adds a citing work."""
    return principal.authenticated and "deposit:write" in principal.scopes and may_edit(principal, owners)


def may_see_registrations(principal: Principal, owner: int | None) -> bool:
    """How a record's DOI registration stands (the registry's refusals included): its owner, curators, admins."""
    if "curate" in principal.scopes or "admin" in principal.scopes:
        return True
    return principal.authenticated and owner is not None and principal.user_id == owner


def require_see_unmatched_deliveries(principal: Principal) -> None:
    """Webhook deliveries that matched no connected repository (`/admin/deliveries`): admins (``admin`` scope)."""
    _require_role_scope(principal, "admin", "admin")


def require_manage_registrations(principal: Principal) -> None:
    """The list of every DOI registration not done, and retrying them: admins (with the ``admin`` scope)."""
    _require_role_scope(principal, "admin", "admin")


# -- analyses ---------------------------------------------------------------------------------------------------
def require_run_analysis(principal: Principal, *, own_code: bool) -> None:
    """Starting an analysis job needs ``analyses:run``; code named by module or file path (``module:Class``)
    runs inside the portal and its workers, so only curators may name it."""
    require_scope(principal, "analyses:run")
    if own_code:
        _require_role_scope(principal, "curator", "curate")


def require_publish_job(principal: Principal, owner: int | None) -> None:
    """Publishing a job's result as a derived record: the job's owner or a curator, with ``deposit:publish``."""
    require_scope(principal, "deposit:publish")
    if "curate" not in principal.scopes and (owner is None or principal.user_id != owner):
        raise Forbidden(N_("only the owner of this job or a curator may publish its result"), field="owner")


def may_see_job(principal: Principal, owner: int | None) -> bool:
    return owner is not None and principal.user_id == owner or "curate" in principal.scopes


def require_cancel_job(principal: Principal, owner: int | None) -> None:
    """Cancelling an analysis job: its owner or an admin, with ``analyses:run`` (the command line may too)."""
    if principal.via == "cli":
        return
    require_scope(principal, "analyses:run")
    if "admin" not in principal.scopes and (owner is None or principal.user_id != owner):
        raise Forbidden(N_("only the owner of this job or an admin may cancel it"), field="owner")


def job_listing_owner(principal: Principal, *, mine: bool) -> int | None:
    """Whose analysis jobs a listing shows (None: everyone's): curators and admins see all of them (only their
    own with ``mine``), other users their own; anonymous callers are asked to sign in."""
    if principal.via == "cli":
        return None
    if not principal.authenticated:
        raise Unauthorized(N_("sign in to list your analysis jobs"), field="owner")
    if mine or "curate" not in principal.scopes:
        return principal.user_id
    return None


# -- queue jobs (`/api/jobs`) -----------------------------------------------------------------------------------
def _oversees_jobs(principal: Principal) -> bool:
    return principal.via == "cli" or "curate" in principal.scopes or "admin" in principal.scopes


def require_see_queue_job(principal: Principal, owner: int | None) -> None:
    """A background job's state: its owner, curators and admins (whoever runs the server's command line too)."""
    if not principal.authenticated:
        raise Unauthorized(N_("sign in to see background jobs"), field="job_id")
    if not _oversees_jobs(principal) and (owner is None or principal.user_id != owner):
        raise Forbidden(N_("only the owner of this job, a curator or an admin may see it"), field="job_id")


def queue_listing_owner(principal: Principal, *, mine: bool) -> int | None:
    """Whose background jobs a listing shows (None: everyone's): curators and admins see all of them (only their
    own with ``mine``), other users their own; anonymous callers are asked to sign in."""
    if not principal.authenticated:
        raise Unauthorized(N_("sign in to list your background jobs"), field="owner")
    if principal.via == "cli" and not mine:
        return None
    if mine or not _oversees_jobs(principal):
        return principal.user_id
    return None


def require_cancel_queue_job(principal: Principal, owner: int | None, scope: str) -> None:
    """Cancelling a background job: its owner with the ``scope`` its kind needs (a launch: ``launch``), or an admin
    (``admin`` scope); the command line may too."""
    if principal.via == "cli":
        return
    if not principal.authenticated:
        raise Unauthorized(N_("sign in to cancel background jobs"), field="job_id")
    if "admin" in principal.scopes:
        return
    require_scope(principal, scope)
    if owner is None or principal.user_id != owner:
        raise Forbidden(N_("only the owner of this job or an admin may cancel it"), field="owner")


# -- launches ---------------------------------------------------------------------------------------------------
def require_launch(principal: Principal, *, anonymous_allowed: bool) -> None:
    """Launching a session: anyone when anonymous launches are allowed; a signed-in user's credential must carry
    ``launch`` (a token without it is refused, naming it)."""
    if principal.authenticated:
        require_scope(principal, "launch")
    elif not anonymous_allowed:
        raise Unauthorized(N_("sign in to launch sessions here"), field="scope")


# -- people -----------------------------------------------------------------------------------------------------
def require_manage_users(principal: Principal) -> None:
    """Listing users, changing their roles, disabling them: admins (with the ``admin`` scope)."""
    _require_role_scope(principal, "admin", "admin")


def require_manage_tokens(principal: Principal, user_id: int) -> None:
    """Creating a user's tokens: the user in person (a browser session or the command line), or an admin. A token
    never makes tokens, or one narrow token could mint a broader one."""
    if not principal.authenticated:
        raise Unauthorized(N_("sign in to manage your tokens"), field="user")
    if "admin" in principal.scopes:
        return
    if principal.user_id != user_id:
        raise Forbidden(N_("only the user themselves or an admin may manage their tokens"), field="user")
    if principal.via == "token":
        raise Forbidden(N_("a token cannot create tokens: sign in, or use `portal tokens create`"), field="scope")


def require_signed_in(principal: Principal) -> None:
    """Pages of one's own (tokens, uploads, jobs, sessions): anyone signed in."""
    if not principal.authenticated or principal.user_id is None:
        raise Unauthorized(N_("sign in to see this page"), field="user")


# -- quotas -----------------------------------------------------------------------------------------------------
def require_quota(quota: str, used: int, limit: int, *, what: str) -> None:
    """Refuse (429 naming the ``quota`` setting) when ``used`` already reaches ``limit`` (0: no limit)."""
    if limit > 0 and used >= limit:
        raise QuotaExceeded(
            N_("you have {used} {what} at once already, the most allowed ({quota} = {limit}); wait for one to finish"),
            used=used,
            what=what,
            quota=quota,
            limit=limit,
            field=quota,
        )
