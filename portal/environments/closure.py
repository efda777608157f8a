"""The distributions a list of requirements needs, linked from the portal's environment into a folder of their own:
an environment that sees these and nothing else of the portal's packages."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from portal.errors import Invalid
from portal.i18n import N_


def closure(lines: list[str]) -> tuple[dict[str, metadata.Distribution], list[str]]:
    """The installed distributions ``lines`` need (with their dependencies, markers and extras applied), by
    canonical name, and the requirements the portal's environment does not satisfy (missing or another version)."""
    todo: list[Requirement] = []
    for line in lines:
        try:
            todo.append(Requirement(line))
        except InvalidRequirement as exc:
            raise Invalid(N_("bad requirement {line!r}: {exc}"), line=line, exc=exc, field="requirements.txt") from None
    found: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            missing.append(str(req))
            continue
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            missing.append(str(req))
            continue
        found[name] = dist
        extras = [""] + sorted(req.extras)
        for text in dist.requires or []:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return found, missing


def link_closure(lines: list[str], folder: Path) -> tuple[list[str], list[str]]:
    """Symlink into ``folder`` the top-level entries (packages, modules, extension modules, dist-info) of the
    distributions :func:`closure` finds; returns the linked names and the unsatisfied requirements."""
    found, missing = closure(lines)
    folder.mkdir(parents=True, exist_ok=True)
    for dist in found.values():
        base = Path(str(dist.locate_file("")))
        for entry in sorted({Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}):
            link, source = folder / entry, base / entry
            if entry == "__pycache__" or link.exists() or not source.exists():
                continue  # a namespace folder shared by two distributions links once (its first owner's)
            link.symlink_to(source, target_is_directory=source.is_dir())
    return sorted(found), missing
