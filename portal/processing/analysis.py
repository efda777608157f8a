"""The analysis interface (columns + process -> mergeable Output) and loading built-in or user analyses."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np

from portal.errors import Invalid, NotFound


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


class Analysis:
    """Base class for analyses. Subclasses set ``name``, ``version`` and ``columns`` (branch names to read)
    and implement ``process(events) -> Output``; ``events`` is an awkward array with one field per column."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    title: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    #: the histogram drawn on the result page
    main_hist: ClassVar[str] = ""

    def __init__(self, **parameters: Any) -> None:
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


ENTRY_POINT_GROUP = "portal.analyses"


def is_builtin(spec: str) -> bool:
    return spec in builtin_analyses()


def builtin_analyses() -> Mapping[str, type[Analysis]]:
    from portal.processing.analyses import BUILTINS

    return BUILTINS


def load_analysis(spec: str, **parameters: Any) -> Analysis:
    """A built-in name (``dimuon``, ``adl_q1`` …), the name of a ``portal.analyses`` entry point,
    ``package.module:ClassName`` or ``/path/file.py:ClassName``."""
    builtins = builtin_analyses()
    if spec in builtins:
        return builtins[spec](**parameters)
    # analyses installed by a software package or an analysis environment: entry points `portal.analyses`
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _instantiate(ep.load(), spec, parameters)
    if ":" not in spec:
        raise NotFound(
            f"unknown analysis {spec!r}; built-ins are {', '.join(sorted(builtins))}, or give "
            "'module:Class' / '/path/to/file.py:Class'"
        )
    where, attr = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise NotFound(f"analysis file {where} does not exist")
        mod_name = "portal_user_analysis_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        spec_obj = importlib.util.spec_from_file_location(mod_name, path)
        assert spec_obj and spec_obj.loader
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[mod_name] = module
        spec_obj.loader.exec_module(module)
        # workers cannot import a file-loaded module: ship its code with the pickled analysis
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise NotFound(f"cannot import analysis module {where!r}: {exc}") from exc
    target = getattr(module, attr, None)
    if target is None:
        raise NotFound(f"module {where!r} has no attribute {attr!r}")
    return _instantiate(target, spec, parameters)


def _instantiate(target: Any, spec: str, parameters: dict[str, Any]) -> Analysis:
    if inspect.isclass(target) and issubclass(target, Analysis):
        analysis = target(**parameters)
    elif isinstance(target, Analysis):
        analysis = target
    else:
        raise Invalid(f"{spec} is not an Analysis subclass or instance")
    if not analysis.columns:
        raise Invalid(f"analysis {spec} declares no columns")
    return analysis
