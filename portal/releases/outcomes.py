"""Why a delivery did not create a version: refused (nothing to retry: the delivery or the repository must change)
or failed (the portal or the git server had a problem; a retry may succeed)."""

from __future__ import annotations


class DeliveryProblem(Exception):
    outcome = "failed"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


class Refused(DeliveryProblem):
    outcome = "refused"


class Failed(DeliveryProblem):
    outcome = "failed"
