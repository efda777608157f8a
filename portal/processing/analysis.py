"""The analysis interface: declared columns + ``process(events)`` -> a mergeable Output of histograms and cut flow."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from portal.errors import Invalid
from portal.i18n import N_
from portal.processing import analysis_api
from portal.processing.analysis_api import Output, collection, hist_to_json, int_hist

__all__ = ["Analysis", "Output", "Parameter", "collection", "hist_to_json", "int_hist"]


# One contract for built-ins and software records' analyses: the classes of the single-file API that the job runner
# ships into analysis environments (as `portal_analysis`); user code importing `portal_analysis` in this process
# (a curator's file run in-process, a Dask worker unpickling it) gets this very module.
sys.modules.setdefault("portal_analysis", analysis_api)


PARAMETER_KINDS = ("float", "int", "bool", "choice")


@dataclass(frozen=True)
class Parameter(analysis_api.Parameter):
    """A parameter an analysis declares: the web form is generated from it and values are checked against it
    before a job is stored (a form sends strings, the API JSON values; both are coerced to ``kind``)."""

    name: str
    kind: str
    default: Any
    label: str = ""
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's kind; Invalid naming ``parameters.<name>`` when it is not one."""
        field_name = f"parameters.{self.name}"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                return value.lower() in ("true", "on", "1", "yes")
            raise Invalid(
                N_("{name} must be true or false, got {value!r}"), name=self.name, value=value, field=field_name
            )
        if self.kind == "choice":
            if value not in self.choices:
                raise Invalid(
                    N_("{name} must be one of {choices}, got {value!r}"),
                    name=self.name,
                    choices=", ".join(self.choices),
                    value=value,
                    field=field_name,
                )
            return value
        number: float | int
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if self.kind == "int" else float(value)
            if self.kind == "int" and isinstance(value, float) and not value.is_integer():
                raise ValueError
            if not np.isfinite(number):
                raise ValueError
        except (TypeError, ValueError):
            message = (
                N_("{name} must be an integer, got {value!r}")
                if self.kind == "int"
                else N_("{name} must be a number, got {value!r}")
            )
            raise Invalid(
                message,
                name=self.name,
                value=value,
                field=field_name,
            ) from None
        if self.minimum is not None and number < self.minimum:
            raise Invalid(
                N_("{name} must be at least {minimum:g}, got {number:g}"),
                name=self.name,
                minimum=self.minimum,
                number=number,
                field=field_name,
            )
        if self.maximum is not None and number > self.maximum:
            raise Invalid(
                N_("{name} must be at most {maximum:g}, got {number:g}"),
                name=self.name,
                maximum=self.maximum,
                number=number,
                field=field_name,
            )
        return number


class Analysis(analysis_api.Analysis):
    """Base class for the portal's analyses (:class:`analysis_api.Analysis`, whose contract software records'
    analyses share), with parameter errors as the portal's Invalid naming the field."""

    params: ClassVar[tuple[Parameter, ...] | None] = None

    def __init__(self, **parameters: Any) -> None:
        if self.params is not None:
            declared = {p.name: p for p in self.params}
            unknown = sorted(set(parameters) - set(declared))
            if unknown:
                known = ", ".join(declared) or "none"
                raise Invalid(
                    N_("analysis {name} has no parameter {unknown_0!r} (its parameters: {known})"),
                    name=self.name,
                    unknown_0=unknown[0],
                    known=known,
                    field=f"parameters.{unknown[0]}",
                )
            # defaults filled in: provenance and a re-run then name every value the result depends on
            parameters = {
                name: p.coerce(parameters[name]) if name in parameters else p.default for name, p in declared.items()
            }
        self.parameters = parameters
