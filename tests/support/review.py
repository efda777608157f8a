"""Curated collections with their curators, the large-deposit app and the publication job's end: the set-up the
review tests (tests/functional/test_review.py, test_review_queued_publish.py) and the queued-publish tests
(test_deposit_queued_publish.py) share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.app import create_app, services_of
from portal.identity.principal import COMMAND_LINE
from tests.support.users import bearer, make_user, token_for

#: the scopes of a depositor's token (and a curator's: accepting publishes)
WRITER = ["deposit:write", "deposit:publish"]

#: a job of these states has ended
ENDED = ("succeeded", "failed", "cancelled")


def large_deposit_app(settings: dict[str, Any], tmp_path: Path, *, owners_publish: bool) -> Flask:
    """An app on which a deposit of more than 3 files is large (published by a `deposit.publish` job) and no
    worker runs until a test starts one; ``owners_publish``: whether owners publish uncurated drafts themselves."""
    return create_app(
        {
            **settings,
            "deposit_owners_publish": owners_publish,
            "data_dir": str(tmp_path / "data"),
            "ingest_queue_files": 3,
            "deposit_queue_bytes": 0,
        }
    )


def curated_people(app: Flask, *others: str) -> dict[str, Any]:
    """Collections `cms` (curated by the listed user cms-cura) and `education` (curated by the `teachers` group,
    of which edu-cura is a member). Bearer headers with :data:`WRITER` scopes: "alice" (an owner), "cms"
    (cms-cura), "edu" (edu-cura) and one per name in ``others``; "teacher": edu-cura's user."""
    svc = services_of(app)
    svc.collections.create(COMMAND_LINE, "cms", "CMS", description="CMS open data")
    svc.collections.create(COMMAND_LINE, "education", "Education", curator_group="teachers")
    make_user(app, "cms-cura")
    svc.collections.add_curator(COMMAND_LINE, "cms", "cms-cura")
    teacher = make_user(app, "edu-cura")
    svc.users.add_to_group(COMMAND_LINE, teacher.id, "teachers")
    people: dict[str, Any] = {
        "alice": bearer(token_for(app, WRITER, username="alice")),
        "cms": bearer(token_for(app, WRITER, username="cms-cura")),
        "edu": bearer(token_for(app, WRITER, username="edu-cura")),
        "teacher": teacher,
    }
    for name in others:
        people[name] = bearer(token_for(app, WRITER, username=name))
    return people


def job_json(client: FlaskClient, auth: dict[str, str], job_id: int) -> dict[str, Any]:
    return client.get(f"/api/jobs/{job_id}", headers=auth).get_json()


def ended(client: FlaskClient, auth: dict[str, str], job_id: int) -> dict[str, Any] | None:
    """The job as `/api/jobs/<id>` serves it once it has ended; None while it is queued or running."""
    job = job_json(client, auth, job_id)
    return job if job["state"] in ENDED else None
