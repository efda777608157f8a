"""Analyses provided by software records, found by reading the record's files, never by importing them.

A software record's files hold a Python package: a git release's ``.tar.gz``, a wheel, a ``.zip`` or loose files.
Its analyses are declared as ``portal.analyses`` entry points (``pyproject.toml``'s
``[project.entry-points."portal.analyses"]``, ``setup.cfg``'s ``[options.entry_points]``, a wheel's
``entry_points.txt``) or in a small manifest, ``portal-analyses.toml``::

    [analyses.leading-muon-pt]
    entry = "my_pkg.analyses:LeadingMuonPt"

Each entry's class is described from its source's syntax tree (``ast``): the literal ``name``, ``version``,
``title``, ``columns``, ``main_hist`` and ``params`` of the class body (and of its bases in the same module). The
package's code runs only in the analysis environment (:mod:`.isolated`), never in the portal's process.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import io
import logging
import re
import shutil
import tarfile
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.processing.analysis import PARAMETER_KINDS, Parameter

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "portal.analyses"
MANIFEST = "portal-analyses.toml"
#: a software package larger than this (unpacked) is not read: analysis packages are small
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
#: what separates an analysis' name from the software record providing it in a job's ``analysis``: ``name@recid``
SEPARATOR = "@"
ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class SoftwareAnalysis:
    """An analysis a software record provides: its entry point and what its class declares, with the record's
    title, version and DOI (what the Analyse panel labels it with) and the environment record it requires."""

    name: str
    entry: str
    title: str
    version: str
    columns: tuple[str, ...]
    params: tuple[Parameter, ...]
    main_hist: str
    recid: int
    record_title: str
    record_version: str
    doi: str | None
    environment_recid: int | None

    @property
    def spec(self) -> str:
        """How a job names it: ``name@recid`` (the record version pins the code)."""
        return f"{self.name}{SEPARATOR}{self.recid}"

    @property
    def label(self) -> str:
        version = f" {self.record_version}" if self.record_version else ""
        doi = f", DOI {self.doi}" if self.doi else ""
        return f"{self.record_title}{version} (record {self.recid}{doi})"


@dataclass
class Package:
    """A software record's files as one source tree (relative POSIX path -> bytes) and a digest of them."""

    files: dict[str, bytes] = field(default_factory=dict)
    sha256: str = ""


def may_hold_package(key: str) -> bool:
    """Whether a file of a software record can be (part of) a Python package: an archive, a wheel, a project file
    or a module; a record with none of these is not read at all."""
    lower = key.lower()
    return lower.endswith((".tar.gz", ".tgz", ".tar", ".zip", ".whl", ".py")) or lower in PROJECT_FILES


def parse_spec(spec: str) -> tuple[str, int] | None:
    """(name, recid) of a ``name@recid`` analysis name; None for any other kind of name."""
    name, sep, recid = spec.rpartition(SEPARATOR)
    if not sep or not name or not recid.isdigit():
        return None
    return name, int(recid)


# ---------------------------------------------------------------------------------------------------- reading
def read_package(rows: list[dict[str, Any]], opener: Callable[[str], bytes]) -> Package:
    """The source tree of a software record's file rows (``opener`` gives a URI's bytes): archives are unpacked
    in memory (a single top-level folder, as git archives have, is stripped), loose files keep their keys.
    Invalid for an archive that cannot be read or a package over MAX_PACKAGE_BYTES."""
    package = Package()
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: str(r.get("key"))):
        key, uri = str(row.get("key") or ""), row.get("uri")
        if not key or not uri:
            continue
        body = opener(uri)
        digest.update(key.encode() + b"\0" + hashlib.sha256(body).digest())
        lower = key.lower()
        try:
            if lower.endswith((".tar.gz", ".tgz", ".tar")):
                members = _untar(body)
            elif lower.endswith((".zip", ".whl")):
                members = _unzip(body, strip=not lower.endswith(".whl"))
            else:
                members = {key: body}
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise Invalid(N_("cannot read the archive {key}: {exc}"), key=key, exc=exc, field="software") from exc
        package.files.update(members)
        if sum(len(b) for b in package.files.values()) > MAX_PACKAGE_BYTES:
            raise Invalid(
                N_("the software's files exceed {limit} MiB unpacked"), limit=MAX_PACKAGE_BYTES >> 20, field="software"
            )
    package.sha256 = digest.hexdigest()
    return package


def _safe(name: str) -> str | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path.as_posix()


PROJECT_FILES = (MANIFEST, "pyproject.toml", "setup.cfg", "setup.py")


def _strip(members: dict[str, bytes]) -> dict[str, bytes]:
    """Without the archive's single top folder when that folder is the project (a git archive's ``name-tag/``
    holding pyproject.toml …); a folder that is the package itself is kept."""
    tops = {name.split("/", 1)[0] for name in members}
    top = next(iter(tops)) if len(tops) == 1 else ""
    if top and all("/" in name for name in members) and any(f"{top}/{p}" in members for p in PROJECT_FILES):
        return {name.split("/", 1)[1]: body for name, body in members.items()}
    return members


def _budget(members: dict[str, bytes], size: int) -> None:
    """OSError once the unpacked members would pass MAX_PACKAGE_BYTES (checked before reading each one, so an
    archive that unpacks to gigabytes is refused without unpacking it)."""
    if sum(len(b) for b in members.values()) + size > MAX_PACKAGE_BYTES:
        raise OSError(f"it unpacks to more than {MAX_PACKAGE_BYTES >> 20} MiB")


def _untar(body: bytes) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        for info in tar:
            name = _safe(info.name)
            if name is None or not info.isfile():
                continue
            _budget(members, info.size)
            fh = tar.extractfile(info)
            if fh is not None:
                members[name] = fh.read()
    return _strip(members)


def _unzip(body: bytes, *, strip: bool) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        for info in zf.infolist():
            name = _safe(info.filename)
            if name is None or info.is_dir():
                continue
            _budget(members, info.file_size)
            members[name] = zf.read(info)
    return _strip(members) if strip else members


# ---------------------------------------------------------------------------------------------------- declaring
def entry_points(package: Package) -> dict[str, str]:
    """name -> ``module:Class`` of the analyses the package declares (manifest, pyproject.toml, setup.cfg, a
    wheel's entry_points.txt; the first that declares any wins). Invalid names a file that does not parse."""
    files = package.files
    found: dict[str, str] = {}
    if MANIFEST in files:
        data = _toml(files[MANIFEST], MANIFEST)
        for name, entry in (data.get("analyses") or {}).items():
            found[name] = str(entry.get("entry") if isinstance(entry, dict) else entry)
    if not found and "pyproject.toml" in files:
        data = _toml(files["pyproject.toml"], "pyproject.toml")
        found = {
            k: str(v)
            for k, v in ((data.get("project") or {}).get("entry-points") or {}).get(ENTRY_POINT_GROUP, {}).items()
        }
    if not found and "setup.cfg" in files:
        found = _ini_group(files["setup.cfg"], "options.entry_points", ENTRY_POINT_GROUP)
    if not found:
        for name, body in files.items():
            if name.count("/") == 1 and name.endswith(".dist-info/entry_points.txt"):
                found = _entry_points_txt(body)
                break
    for name, entry in found.items():
        if not ENTRY_RE.match(entry.replace(" ", "")):
            raise Invalid(
                N_("analysis entry point {name!r} must be 'module:Class', got {entry!r}"),
                name=name,
                entry=entry,
                field="software",
            )
    return {name: entry.replace(" ", "") for name, entry in found.items()}


def _toml(body: bytes, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(body.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(N_("{name} does not parse: {exc}"), name=name, exc=exc, field="software") from exc


def _ini_group(body: bytes, section: str, group: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(body.decode())
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise Invalid(N_("{name} does not parse: {exc}"), name="setup.cfg", exc=exc, field="software") from exc
    text = parser.get(section, group, fallback="")
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in text.splitlines() if "=" in line)}


def _entry_points_txt(body: bytes) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    try:
        parser.read_string(body.decode())
    except (configparser.Error, UnicodeDecodeError):
        return {}
    return dict(parser.items(ENTRY_POINT_GROUP)) if parser.has_section(ENTRY_POINT_GROUP) else {}


def package_root(package: Package, module: str) -> str:
    """The folder of the tree that the top-level package of ``module`` sits in ("" or "src"); Invalid when the
    module is not in the tree."""
    top = module.split(".", 1)[0]
    for root in ("", "src/"):
        if f"{root}{top}.py" in package.files or any(n.startswith(f"{root}{top}/") for n in package.files):
            return root.rstrip("/")
    raise Invalid(
        N_("the software's files have no module {module!r} (looked for {top}/ and src/{top}/)"),
        module=module,
        top=top,
        field="software",
    )


def module_source(package: Package, module: str) -> str:
    root = package_root(package, module)
    base = (root + "/" if root else "") + module.replace(".", "/")
    for candidate in (base + ".py", base + "/__init__.py"):
        if candidate in package.files:
            return package.files[candidate].decode("utf-8", errors="replace")
    raise Invalid(N_("the software's files have no module {module!r}"), module=module, top=module, field="software")


_CLASS_ATTRS = ("name", "version", "title", "columns", "main_hist", "params")


def describe(package: Package, entry: str) -> dict[str, Any]:
    """What the class ``entry`` declares, read from its module's syntax tree: its literal class attributes
    (merged over its bases defined in the same module). Invalid when the module, the class or literal columns
    are missing."""
    module, _, cls_name = entry.partition(":")
    try:
        tree = ast.parse(module_source(package, module))
    except SyntaxError as exc:
        raise Invalid(N_("{module} does not parse: {exc}"), module=module, exc=exc, field="software") from exc
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    if cls_name not in classes:
        raise Invalid(N_("module {where!r} has no attribute {attr!r}"), where=module, attr=cls_name, field="software")
    attrs: dict[str, Any] = {}
    chain, node = [], classes.get(cls_name)
    while node is not None and node not in chain:
        chain.append(node)
        base = node.bases[0] if node.bases else None
        node = classes.get(base.id) if isinstance(base, ast.Name) else None
    for node in reversed(chain):
        for stmt in node.body:
            target, value = _assignment(stmt)
            if target in _CLASS_ATTRS and value is not None:
                try:
                    attrs[target] = _params(value) if target == "params" else ast.literal_eval(value)
                except (ValueError, TypeError, SyntaxError):
                    if target in ("columns", "params"):
                        raise Invalid(
                            N_("{entry}: {attr} must be written as a literal, so the portal can read it"),
                            entry=entry,
                            attr=target,
                            field="software",
                        ) from None
    columns = attrs.get("columns")
    if not isinstance(columns, tuple | list) or not columns or not all(isinstance(c, str) for c in columns):
        raise Invalid(N_("analysis {spec} declares no columns"), spec=entry, field="software")
    attrs["columns"] = tuple(columns)
    return attrs


def _assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None, None


_PARAM_FIELDS = ("name", "kind", "default", "label", "help", "minimum", "maximum", "choices")


def _params(value: ast.expr) -> tuple[Parameter, ...] | None:
    """``params = (Parameter("ptmin", "float", 0.0, ...), ...)`` with literal arguments, as Parameters."""
    if isinstance(value, ast.Constant) and value.value is None:
        return None
    if not isinstance(value, ast.Tuple | ast.List):
        raise ValueError("params is not a tuple")
    out = []
    for call in value.elts:
        if not isinstance(call, ast.Call):
            raise ValueError("not a Parameter(...)")
        kwargs = dict(zip(_PARAM_FIELDS, (ast.literal_eval(a) for a in call.args), strict=False))
        kwargs.update({k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg})
        if kwargs.get("kind") not in PARAMETER_KINDS:
            raise ValueError("unknown kind")
        if "choices" in kwargs:
            kwargs["choices"] = tuple(kwargs["choices"])
        out.append(Parameter(**kwargs))
    return tuple(out)


def analyses_of(record: Any, package: Package, environment_recid: int | None) -> list[SoftwareAnalysis]:
    """The analyses software record ``record`` (a RecordView) provides; one that cannot be described is left out
    and logged, so one bad entry does not hide the others."""
    md = record.metadata
    out = []
    for name, entry in sorted(entry_points(package).items()):
        try:
            attrs = describe(package, entry)
        except Invalid as err:
            log.warning("software record %s: analysis %s left out: %s", record.recid, name, err.message)
            continue
        out.append(
            SoftwareAnalysis(
                name=name,
                entry=entry,
                title=str(attrs.get("title") or attrs.get("name") or name),
                version=str(attrs.get("version") or "1"),
                columns=attrs["columns"],
                params=tuple(attrs.get("params") or ()),
                main_hist=str(attrs.get("main_hist") or ""),
                recid=record.recid,
                record_title=str(md.get("title") or f"record {record.recid}"),
                record_version=str(md.get("version") or ""),
                doi=record.doi,
                environment_recid=environment_recid,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------- installing
def install(package: Package, entries: list[str], target: Path) -> Path:
    """Unpack the package into ``target`` as an installed distribution (its importable folders, or a wheel's
    whole content, and an ``entry_points.txt``), once per package digest: ``target`` is written under a temporary
    name and renamed whole. Nothing of it is executed here (no build backend, no setup.py)."""
    if target.is_dir():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    is_wheel = any(n.count("/") == 1 and n.endswith(".dist-info/WHEEL") for n in package.files)
    roots = {package_root(package, e.partition(":")[0]) for e in entries} if not is_wheel else {""}
    tops = {e.partition(":")[0].split(".", 1)[0] for e in entries}
    for name, body in package.files.items():
        if is_wheel:
            rel = name
        else:
            root = next((r for r in roots if not r or name.startswith(r + "/")), None)
            if root is None:
                continue
            rel = name[len(root) + 1 :] if root else name
            if rel.split("/", 1)[0].removesuffix(".py") not in tops:
                continue  # only the analysis packages: not tests/, docs/ or a setup.py
        path = partial / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    if not is_wheel:
        info = partial / f"portal_software_{package.sha256[:12]}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: portal-software-{package.sha256[:12]}\nVersion: 0\n"
        )
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n"
            + "".join(f"{e.partition(':')[0].split('.')[-1]}_{i} = {e}\n" for i, e in enumerate(entries))
        )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def find(analyses: list[SoftwareAnalysis], name: str, recid: int) -> SoftwareAnalysis:
    """The analysis ``name`` among those of software record ``recid``; NotFound listing them."""
    for a in analyses:
        if a.name == name:
            return a
    raise NotFound(
        N_("software record {recid} provides no analysis {name!r}; it provides: {known}"),
        recid=recid,
        name=name,
        known=", ".join(a.name for a in analyses) or "none",
    )
