"""Why a delivery did not create a version: refused (nothing to retry: the delivery or the repository must change)
or failed (the portal or the git server had a problem; a retry may succeed)."""

from __future__ import annotations

from typing import Any

from portal.errors import json_params


class DeliveryProblem(Exception):
    outcome = "failed"

    def __init__(self, reason: str, /, *, field: str | None = None, **values: object) -> None:
        """``reason`` may be a message id (``N_``) with ``{placeholders}`` filled from ``values``: a refusal the web
        shows at once (a repository URL on the connect form) is then translated; the delivery records the English."""
        self.template = reason
        self.values: dict[str, Any] = values
        self.reason = reason.format(**values) if values else reason
        self.field = field
        super().__init__(self.reason)

    def stored(self) -> dict[str, Any]:
        """The reason as a message id and values, for :func:`portal.errors.stored_message` (its field is not part of
        the sentence: the delivery keeps it in a column of its own)."""
        return {"id": self.template, "params": json_params(self.values)}


class Refused(DeliveryProblem):
    outcome = "refused"


class Failed(DeliveryProblem):
    outcome = "failed"
