"""The portal's analysis API in one file, importable without the portal: ``Analysis``, ``Output``, ``Parameter``,
``int_hist``, ``collection``; and the runner that executes one analysis inside an analysis environment.

The portal's built-ins subclass these classes (through :mod:`portal.processing.analysis`), and analyses provided by
software records import them as ``portal_analysis``: the job runner ships this very file onto the environment's
PYTHONPATH under that name, so both kinds share one contract. It needs only numpy, awkward and hist (and uproot or
pyarrow to read files); keep it free of any other import, and keep it small: it is an API, not a framework.

Runner: ``python portal_analysis.py REQUEST.json`` reads a request (``entry`` ``module:Class``, ``parameters``,
``files``, ``chunk_events``, ``skip_bad_files``, ``output``), prints one JSON progress line per file read, and
writes the result (exact integer bins, cut flow, code identity, the interpreter's environment) to ``output``.
A failure writes ``{"error": {"stage", "type", "message", "traceback"}}`` there instead and exits 2: the stage
(``import``, ``parameters``, ``read``, ``analysis``) says whose fault it is.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np

#: the contract's version; the runner records it with every result
API_VERSION = "1"


def N_(message: str) -> str:
    """Marks a message id (``pybabel extract`` collects it, as :func:`portal.i18n.N_`; this file imports nothing of
    the portal): the portal shows a :class:`ParameterError` in its reader's language from the id and values."""
    return message


#: the tree read from ROOT files (the first TTree when a file has none of this name)
TREE = "Events"


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
    """Axes (name, label, edges) and the counts with under- and overflow, as exact integers."""
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


class ParameterError(ValueError):
    """A parameter value an analysis refuses; ``field`` names it (``parameters.<name>``). ``template`` is a message
    id with ``{placeholders}`` filled from ``values`` (str() is the English text), so the portal translates it."""

    def __init__(self, message: str, field: str, **values: Any) -> None:
        self.template = message
        self.values = values
        self.field = field
        super().__init__(message.format(**values) if values else message)


@dataclass(frozen=True)
class Parameter:
    """A parameter an analysis declares (``kind``: float, int, bool or choice); the portal builds its form from it."""

    name: str
    kind: str
    default: Any
    label: str = ""
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's kind (a form sends strings, JSON values); ParameterError when it is not
        one. The one check of parameters: the portal's form and API use it too (:mod:`portal.processing.analysis`)."""
        where, name = f"parameters.{self.name}", self.name
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                return value.lower() in ("true", "on", "1", "yes")
            raise ParameterError(N_("{name} must be true or false, got {value!r}"), where, name=name, value=value)
        if self.kind == "choice":
            if value not in self.choices:
                choices = ", ".join(self.choices)
                message = N_("{name} must be one of {choices}, got {value!r}")
                raise ParameterError(message, where, name=name, choices=choices, value=value)
            return value
        number: float | int
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if self.kind == "int" else float(value)
            if self.kind == "int" and isinstance(value, float) and not value.is_integer():
                raise ValueError  # 2.5 is no integer: refused rather than cut to 2
            if not np.isfinite(number):
                raise ValueError
        except (TypeError, ValueError):
            message = (
                N_("{name} must be an integer, got {value!r}")
                if self.kind == "int"
                else N_("{name} must be a number, got {value!r}")
            )
            raise ParameterError(message, where, name=name, value=value) from None
        if self.minimum is not None and number < self.minimum:
            message = N_("{name} must be at least {minimum:g}, got {number:g}")
            raise ParameterError(message, where, name=name, minimum=self.minimum, number=number)
        if self.maximum is not None and number > self.maximum:
            message = N_("{name} must be at most {maximum:g}, got {number:g}")
            raise ParameterError(message, where, name=name, maximum=self.maximum, number=number)
        return number


class Analysis:
    """Base class of analyses. Subclasses set ``name``, ``version``, ``title``, ``columns`` (the only branches
    read), ``main_hist`` and ``params``, and implement ``process(events) -> Output`` (a pure function of its
    chunk) and ``empty()`` (the result of zero events)."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    title: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    #: the histogram drawn on the result page
    main_hist: ClassVar[str] = ""
    #: the parameters it takes; None: undeclared (any keyword passes unchecked), () none at all
    params: ClassVar[tuple[Parameter, ...] | None] = None

    def __init__(self, **parameters: Any) -> None:
        if self.params is not None:
            declared = {p.name: p for p in self.params}
            unknown = sorted(set(parameters) - set(declared))
            if unknown:
                raise ParameterError(
                    N_("analysis {name} has no parameter {unknown_0!r} (its parameters: {known})"),
                    f"parameters.{unknown[0]}",
                    name=self.name,
                    unknown_0=unknown[0],
                    known=", ".join(declared) or "none",
                )
            # defaults filled in: provenance and a re-run then name every value the result depends on
            parameters = {n: p.coerce(parameters[n]) if n in parameters else p.default for n, p in declared.items()}
        self.parameters = parameters

    def process(self, events: ak.Array) -> Output:  # pragma: no cover - interface
        raise NotImplementedError

    def empty(self) -> Output:
        """The result of zero events (neutral element of ``+``)."""
        return Output()

    def identity(self) -> dict[str, Any]:
        """Code identity for provenance: name, version, module, class, and the sha256 of the module source."""
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


# ---------------------------------------------------------------------------------------------------- the runner
class _Failed(Exception):
    def __init__(self, stage: str, exc: BaseException, where: str = "") -> None:
        super().__init__(str(exc))
        self.stage, self.exc, self.where = stage, exc, where


def _chunks(uri: str, columns: list[str], step: int) -> Any:
    """The file's events in runs of at most ``step``: ROOT (uproot, ``Events`` tree) or Parquet (pyarrow)."""
    if uri.lower().split("?", 1)[0].endswith(".parquet"):
        import pyarrow.parquet as pq

        path = uri.removeprefix("file://")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=step, columns=columns):
            arr = ak.from_arrow(batch)
            yield ak.zip({c: ak.without_parameters(arr[c]) for c in columns}, depth_limit=1)
        return
    import uproot

    with uproot.open(uri.removeprefix("file://")) as f:
        names = [k for k, c in f.classnames().items() if c == "TTree"]
        if not names:
            raise ValueError("the file holds no TTree")
        tree = f[next((n for n in names if n.split(";")[0] == TREE), names[0])]
        for start in range(0, int(tree.num_entries), step):
            yield tree.arrays(columns, entry_start=start, entry_stop=start + step, library="ak")


def _environment() -> dict[str, Any]:
    import platform
    from importlib import metadata

    packages = {}
    for name in ("awkward", "uproot", "numpy", "hist", "pyarrow"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sys_prefix": sys.prefix,
        "executable": sys.executable,
        "packages": packages,
        "api": API_VERSION,
    }


def run(request: dict[str, Any], progress: Any = None) -> dict[str, Any]:
    """Run ``request`` in this interpreter and return the result JSON; raises _Failed naming the stage."""
    t0 = time.perf_counter()
    where, _, attr = str(request["entry"]).partition(":")
    try:
        target = getattr(importlib.import_module(where), attr)
    except BaseException as exc:  # noqa: BLE001 - any failure to import is the package's, reported as such
        raise _Failed("import", exc, str(request["entry"])) from exc
    try:
        analysis = target(**(request.get("parameters") or {})) if inspect.isclass(target) else target
        if not isinstance(analysis, Analysis):
            raise TypeError(f"{request['entry']} is not an Analysis subclass (from portal_analysis)")
        columns = list(analysis.columns)
        if not columns:
            raise TypeError(f"{request['entry']} declares no columns")
    except Exception as exc:
        raise _Failed("parameters", exc, str(request["entry"])) from exc
    step = max(1, int(request.get("chunk_events") or 200_000))
    total, events, files = analysis.empty(), 0, list(request.get("files") or [])
    skipped: dict[str, str] = {}
    for done, uri in enumerate(files, 1):
        part: Output | None = analysis.empty()
        n = 0
        chunks = _chunks(uri, columns, step)
        while True:
            try:
                batch = next(chunks)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - unreadable file: skipped whole, or the run fails naming it
                if not request.get("skip_bad_files"):
                    raise _Failed("read", exc, uri) from exc
                skipped[uri], part, n = f"{type(exc).__name__}: {exc}", None, 0
                break
            try:
                part = analysis.process(batch) if part is None else part + analysis.process(batch)
            except Exception as exc:
                raise _Failed("analysis", exc, uri) from exc
            n += len(batch)
        if part is not None:
            total, events = total + part, events + n
        if progress is not None:
            progress({"files_done": done, "files_total": len(files), "events_done": events})
    wall = time.perf_counter() - t0
    out = total.to_json()
    return {
        **out,
        "main_hist": analysis.main_hist or next(iter(out["hists"]), ""),
        "title": analysis.title or analysis.name,
        "skipped_files": skipped,
        "identity": analysis.identity(),
        "parameters": dict(analysis.parameters),
        "environment": _environment(),
        "events": events,
        "files": files,
        "timings": {"wall_s": round(wall, 4), "events_per_s": round(events / wall, 1) if wall > 0 else 0.0},
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as fh:
        request = json.load(fh)

    def progress(data: dict[str, Any]) -> None:
        print(json.dumps(data), flush=True)

    try:
        body: dict[str, Any] = run(request, progress)
        code = 0
    except _Failed as failed:
        lines = traceback.format_exception(failed.exc)
        body = {
            "error": {
                "stage": failed.stage,
                "where": failed.where,
                "type": type(failed.exc).__name__,
                "message": str(failed.exc),
                "traceback": "".join(lines[-12:]),
            }
        }
        code = 2
    with open(request["output"] + ".part", "w", encoding="utf-8") as fh:
        json.dump(body, fh)
    import os

    os.replace(request["output"] + ".part", request["output"])  # the portal never reads a half-written result
    return code


if __name__ == "__main__":
    sys.exit(main())
