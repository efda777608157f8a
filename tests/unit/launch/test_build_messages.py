"""Build and launch failures are written by workers with no reader: they keep a message id and values next to their
English text, through the rows events and builds are stored in, and are translated where a reader is known."""

from __future__ import annotations

from portal.environments.builders import TEXT_KEY, BuildEvent, BuildFailed, localized_event
from portal.i18n import N_

FRENCH = {
    "podman build failed ({status}); the end of its log:\n{log}": "podman build a échoué ({status}) ; la fin :\n{log}",
    "the launch did not finish: {reason}": "le lancement ne s'est pas terminé : {reason}",
}


def french(message: str, plural: str | None = None, num: int = 1) -> str:
    return FRENCH.get(message, message)


def test_a_build_failure_keeps_the_tools_log_as_a_value_and_translates_the_sentence_around_it():
    log = "STEP 3/7: RUN pip install {nope}\nERROR: No matching distribution found for nope"
    failed = BuildFailed(N_("podman build failed ({status}); the end of its log:\n{log}"), status="exit 1", log=log)
    assert str(failed) == failed.message == f"podman build failed (exit 1); the end of its log:\n{log}"
    assert failed.localized(french) == f"podman build a échoué (exit 1) ; la fin :\n{log}"  # braces in the log kept
    stored = failed.stored()
    assert stored == {"id": str(failed.template), "params": {"status": "exit 1", "log": log}}
    again = BuildFailed.from_stored(stored)  # the launch following the build raises it again from the row
    assert again.message == failed.message and again.localized(french) == failed.localized(french)


def test_a_failure_event_round_trips_through_a_row_and_is_translated_for_its_reader():
    failed = BuildFailed(N_("podman build failed ({status}); the end of its log:\n{log}"), status="exit 2", log="x")
    event = BuildEvent.failure(failed, named=True)
    assert event.phase == "failed" and event.message == f"BuildFailed: {failed.message}"
    # written as a row (phase, message, data JSON) and read back: the message id travels in ``data``
    row_data = {**event.data, **event.stored_text()}
    read = BuildEvent.from_row(event.phase, event.message, row_data)
    assert read == event and read.data == {}
    shown = localized_event({**read.as_dict(), "time": 1.0}, french)
    french_message = "BuildFailed: podman build a échoué (exit 2) ; la fin :\nx"
    assert shown == {"phase": "failed", "message": french_message, "time": 1.0}
    assert TEXT_KEY not in localized_event(read.as_dict(), french)


def test_an_event_with_text_only_is_shown_as_written():
    line = BuildEvent("building", "Collecting numpy==1.26.4", {"key": "k"})
    assert line.as_dict() == {"phase": "building", "message": "Collecting numpy==1.26.4", "key": "k"}
    assert localized_event(line.as_dict(), french) == line.as_dict()
    # a row written before message ids were kept reads as its text
    assert BuildEvent.from_row("failed", "BuildFailed: old", None) == BuildEvent("failed", "BuildFailed: old")


def test_a_failure_without_values_is_taken_as_it_is():
    failed = BuildFailed("pip {install} failed")  # not a message id: braces are text, never placeholders
    assert failed.message == "pip {install} failed"
    event = BuildEvent.failure(failed)
    assert localized_event(event.as_dict(), french)["message"] == "pip {install} failed"


def test_a_launch_jobs_failure_keeps_its_last_events_message_id():
    from portal.errors import stored_message
    from portal.jobqueue.base import TaskFailed

    gone = BuildEvent.failure(BuildFailed(N_("the launch did not finish: {reason}"), reason="lost"), named=True)
    assert gone.text is not None
    failed = TaskFailed.kept_as(gone.text, gone.message)
    assert failed.message == "BuildFailed: the launch did not finish: lost" and failed.stored() == gone.text
    assert stored_message(failed.stored(), french) == "BuildFailed: le lancement ne s'est pas terminé : lost"
    plain = TaskFailed(N_("build {key} failed"), key="k")
    assert plain.stored() == {"id": "build {key} failed", "params": {"key": "k"}}
