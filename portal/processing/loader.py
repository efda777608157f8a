"""Find an analysis by name: a built-in, a ``portal.analyses`` entry point, ``module:Class`` or ``file.py:Class``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.processing import analysis_api
from portal.processing.analyses import BUILTINS
from portal.processing.analysis import Analysis, invalid

ENTRY_POINT_GROUP = "portal.analyses"


def load_analysis(spec: str, **parameters: Any) -> Analysis:
    """A built-in name (``dimuon``, ``adl_q1`` …), the name of a ``portal.analyses`` entry point,
    ``package.module:ClassName`` or ``/path/file.py:ClassName``."""
    if spec in BUILTINS:
        return BUILTINS[spec](**parameters)
    # analyses installed by a software package or an analysis environment: entry points `portal.analyses`
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _instantiate(ep.load(), spec, parameters)
    if ":" not in spec:
        raise NotFound(
            N_(
                "unknown analysis {spec!r}; built-ins are {builtins}, or give 'module:Class' / '/path/to/file.py:Class'"
            ),
            spec=spec,
            builtins=", ".join(sorted(BUILTINS)),
        )
    where, attr = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise NotFound(N_("analysis file {where} does not exist"), where=where)
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
            raise NotFound(N_("cannot import analysis module {where!r}: {exc}"), where=where, exc=exc) from exc
    target = getattr(module, attr, None)
    if target is None:
        raise NotFound(N_("module {where!r} has no attribute {attr!r}"), where=where, attr=attr)
    return _instantiate(target, spec, parameters)


def _instantiate(target: Any, spec: str, parameters: dict[str, Any]) -> Analysis:
    # analyses written against the single-file API (`portal_analysis`) are analyses too: one contract
    if inspect.isclass(target) and issubclass(target, analysis_api.Analysis):
        try:
            analysis = target(**parameters)
        except analysis_api.ParameterError as exc:  # its message id kept: shown in the reader's language
            raise invalid(exc, source=spec) from None
    elif isinstance(target, analysis_api.Analysis):
        analysis = target
    else:
        raise Invalid(N_("{spec} is not an Analysis subclass or instance"), spec=spec)
    if not analysis.columns:
        raise Invalid(N_("analysis {spec} declares no columns"), spec=spec)
    return analysis  # type: ignore[return-value]  # the API's base class keeps the same contract
