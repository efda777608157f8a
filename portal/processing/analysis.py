"""The analysis interface: declared columns + ``process(events)`` -> a mergeable Output of histograms and cut flow."""

from __future__ import annotations

import hashlib
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np

from portal.errors import Invalid
from portal.i18n import N_


@dataclass
class Output:
    """A partial result: named histograms (integer counts) and an ordered cut flow; merges with ``+``."""

    hists: dict[str, hist.Hist] = field(default_factory=dict)
    cutflow: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Output) -> Output:
        hists = dict(self.hists)
        for name, h in other.hists.items():
            hists[name] = hists[name] + h if name in hists else h
        cutflow = dict(self.cutflow)
        for name, n in other.cutflow.items():
            cutflow[name] = cutflow.get(name, 0) + int(n)
        return Output(hists, cutflow)

    def to_json(self) -> dict[str, Any]:
        return {"hists": {name: hist_to_json(h) for name, h in self.hists.items()}, "cutflow": dict(self.cutflow)}


def hist_to_json(h: hist.Hist) -> dict[str, Any]:
    axes = [{"name": ax.name, "label": ax.label, "edges": [float(e) for e in ax.edges]} for ax in h.axes]
    values = np.asarray(h.values(flow=True))
    return {"axes": axes, "counts_with_flow": values.astype(np.int64).tolist(), "underflow_overflow_included": True}


def int_hist(*axes: hist.axis.Regular) -> hist.Hist:
    """Int64 storage: counts stay exact integers however many partial results are merged."""
    return hist.Hist(*axes, storage=hist.storage.Int64())


def collection(events: ak.Array, name: str) -> ak.Array:
    """Zip the ``<name>_<field>`` branches of ``events`` into one jagged record array (``events.Muon``-style)."""
    prefix = name + "_"
    fields = {f[len(prefix) :]: events[f] for f in events.fields if f.startswith(prefix)}
    return ak.zip(fields)


PARAMETER_KINDS = ("float", "int", "bool", "choice")


@dataclass(frozen=True)
class Parameter:
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


class Analysis:
    """Base class for analyses. Subclasses set ``name``, ``version`` and ``columns`` (branch names to read)
    and implement ``process(events) -> Output``; ``events`` is an awkward array with one field per column."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    title: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    #: the histogram drawn on the result page
    main_hist: ClassVar[str] = ""
    #: the parameters it takes; None: undeclared (any keyword is passed through unchecked, as before
    #: declarations existed), () none at all
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

    def process(self, events: ak.Array) -> Output:  # pragma: no cover - interface
        raise NotImplementedError

    def empty(self) -> Output:
        """The result of zero events (neutral element of ``+``)."""
        return Output()

    def identity(self) -> dict[str, Any]:
        """Code identity for provenance: name, version, module, and sha256 of the module source."""
        module = sys.modules.get(type(self).__module__)
        digest = None
        try:
            source = inspect.getsource(module) if module else None
            digest = hashlib.sha256(source.encode()).hexdigest() if source else None
        except (OSError, TypeError):
            pass
        return {
            "name": self.name,
            "version": self.version,
            "module": type(self).__module__,
            "class": type(self).__qualname__,
            "sha256": digest,
        }
