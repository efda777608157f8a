"""The analysis interface: declared columns + ``process(events)`` -> a mergeable Output of histograms and cut flow."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar

from portal.errors import Invalid
from portal.processing import analysis_api
from portal.processing.analysis_api import Output, collection, hist_to_json, int_hist

__all__ = ["Analysis", "Output", "Parameter", "collection", "hist_to_json", "int_hist"]


# One contract for built-ins and software records' analyses: the classes of the single-file API that the job runner
# ships into analysis environments (as `portal_analysis`); user code importing `portal_analysis` in this process
# (a curator's file run in-process, a Dask worker unpickling it) gets this very module.
sys.modules.setdefault("portal_analysis", analysis_api)


PARAMETER_KINDS = ("float", "int", "bool", "choice")


def invalid(exc: analysis_api.ParameterError, **where: Any) -> Invalid:
    """The portal's Invalid for a parameter the API's check refused: its message id and values (so it is shown in
    the reader's language), naming its field (``where``: a ``source`` to name too)."""
    return Invalid(exc.template, field=exc.field, **where, **exc.values)


@dataclass(frozen=True)
class Parameter(analysis_api.Parameter):
    """A parameter an analysis declares: the web form is generated from it and values are checked against it
    before a job is stored. The check is the single-file API's (:meth:`analysis_api.Parameter.coerce`, which
    analysis environments run too), its refusal the portal's Invalid naming ``parameters.<name>``."""

    def coerce(self, value: Any) -> Any:
        try:
            return super().coerce(value)
        except analysis_api.ParameterError as exc:
            raise invalid(exc) from None


class Analysis(analysis_api.Analysis):
    """Base class for the portal's analyses (:class:`analysis_api.Analysis`, whose contract software records'
    analyses share), with parameter errors as the portal's Invalid naming the field."""

    params: ClassVar[tuple[Parameter, ...] | None] = None

    def __init__(self, **parameters: Any) -> None:
        try:
            super().__init__(**parameters)
        except analysis_api.ParameterError as exc:
            raise invalid(exc) from None
