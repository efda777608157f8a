"""Read record files — our YAML/JSON and CERN Open Data record JSON — into validated :class:`RecordInput`s.

A file is read and validated whole before anything is stored, so a file loads entirely or not at all.
File indices named by a record (`index.json`/`index.txt` files) are streamed from disk into rows.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
import yaml

from portal import yamlfiles
from portal.catalog.model import IndexSpec, RecordInput
from portal.catalog.schema import Profile, validate_record
from portal.errors import Invalid
from portal.i18n import N_
from portal.yamlfiles import MAX_DEPTH

INDEX_TYPES = ("index.json", "index.txt")
_ADLER = re.compile(r"^(?:adler32|alder32):([0-9a-fA-F]{1,8})$")


def _json_error(path: Path, exc: Exception) -> Invalid:
    # ijson reports byte offsets; the standard parser, run only on the error path, gives line and column.
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as precise:
        return Invalid(
            N_("not valid JSON: {precise_msg} at line {precise_lineno} column {precise_colno}"),
            precise_msg=precise.msg,
            precise_lineno=precise.lineno,
            precise_colno=precise.colno,
            source=str(path),
        )
    except (OSError, UnicodeDecodeError):
        pass
    return Invalid(N_("not valid JSON: {exc}"), exc=exc, source=str(path))


def _json_records(path: Path) -> Iterator[Any]:
    """The top-level object of ``path``, or the items of its top-level array one at a time (streamed)."""
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
        fh.seek(0)
        try:
            if head.startswith(b"["):
                yield from ijson.items(fh, "item", use_float=True)
            else:
                yield json.load(fh)
        except (ijson.JSONError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _json_error(path, exc) from exc
        except RecursionError:  # json.load recurses once per level of nesting
            raise Invalid(
                N_("nested more than {MAX_DEPTH} levels deep"), MAX_DEPTH=MAX_DEPTH, source=str(path)
            ) from None


def _yaml_records(path: Path) -> Iterator[Any]:
    """Every record of every YAML document of ``path`` (a document may be a record or a list of them)."""
    try:
        docs = [d for d in yamlfiles.load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as exc:
        raise Invalid(N_("not valid YAML: {exc}"), exc=exc, source=str(path)) from exc
    for doc in docs:
        yield from doc if isinstance(doc, list) else [doc]


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels deep, found without recursion (the
    schema validation and the deep copies after it recurse per level, and would exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def iter_documents(path: Path) -> Iterator[dict[str, Any]]:
    """The record dicts in ``path``: a JSON object or array (streamed), or YAML documents (lists allowed).

    Raises :class:`Invalid` naming the file for unreadable or malformed content, or no records at all.
    """
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in {".json", ".yaml", ".yml"}:
        raise Invalid(N_("unknown file type (expected .json, .yaml or .yml)"), source=source)
    count = 0
    try:
        for item in _json_records(path) if suffix == ".json" else _yaml_records(path):
            if not isinstance(item, dict):
                raise Invalid(
                    N_("entry {count} is a {name}, not a record object"),
                    count=count,
                    name=type(item).__name__,
                    source=source,
                )
            if _too_deep(item):
                raise Invalid(
                    N_("entry {count} is nested more than {MAX_DEPTH} levels deep"),
                    count=count,
                    MAX_DEPTH=MAX_DEPTH,
                    source=source,
                )
            count += 1
            yield item
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(N_("cannot read file: {exc}"), exc=exc, source=source) from exc
    if not count:
        raise Invalid(N_("no records in file"), source=source)


def read_documents(path: Path) -> list[dict[str, Any]]:
    """Every record dict of ``path`` (see :func:`iter_documents`), read whole."""
    return list(iter_documents(path))


def normalise_checksum(value: str) -> str:
    """`adler32:` checksums as 8 lower-case hex digits (CERN data has unpadded values and an `alder32` typo)."""
    match = _ADLER.match(value.strip())
    if match:
        return f"adler32:{int(match.group(1), 16):08x}"
    return value.strip().lower()


class IndexLocator:
    """Finds the local copy of an index file by basename: next to the record file, in `file-indexes/`
    beside it, or in the configured index directory."""

    def __init__(self, index_dir: str | Path | None = None) -> None:
        self.index_dir = Path(index_dir) if index_dir else None

    def find(self, name_or_path: str, record_file: Path) -> Path | None:
        candidate = Path(name_or_path)
        if not candidate.is_absolute():
            direct = record_file.parent / candidate
            if direct.is_file():
                return direct
        elif candidate.is_file():
            return candidate
        basename = candidate.name
        for folder in (record_file.parent, record_file.parent / "file-indexes", self.index_dir):
            if folder is not None and (folder / basename).is_file():
                return folder / basename
        return None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_entry(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise Invalid(N_("{where}: entry is not an object"), where=where)
    uri = entry.get("uri")
    if not isinstance(uri, str) or not uri:
        raise Invalid(N_("{where}: entry has no uri"), where=where)
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise Invalid(N_("{where} ({uri}): size must be a non-negative integer"), where=where, uri=uri)
    out = dict(entry)
    if isinstance(out.get("checksum"), str):
        out["checksum"] = normalise_checksum(out["checksum"])
    return out


def iter_index_file(path: Path) -> Iterator[dict[str, Any]]:
    """Entries of an index file: JSON array of {uri, size, checksum, filename} or text with one URI per line.

    Streamed (ijson / line by line), so a million-entry index never sits in memory whole.
    Raises :class:`Invalid` naming the file and the entry number.
    """
    if path.suffix == ".txt":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                uri = line.strip()
                if uri:
                    yield _check_entry({"uri": uri}, f"{path} line {lineno}")
        return
    with path.open("rb") as fh:
        try:
            for n, entry in enumerate(ijson.items(fh, "item", use_float=True)):
                yield _check_entry(entry, f"{path} entry {n}")
        except ijson.JSONError as exc:
            raise Invalid(N_("index file is not a valid JSON array: {exc}"), exc=exc, source=str(path)) from exc


def _index_key(filename: str) -> str:
    for suffix in (".json", ".txt"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return filename


def to_record_input(
    raw: dict[str, Any], *, source: Path, locator: IndexLocator, profile: Profile = "import"
) -> RecordInput:
    """Validate one record dict (ours or CERN Open Data's) against ``profile`` and split it into metadata,
    files and indices. Raises :class:`Invalid` naming the file, the record and the field."""
    md = copy.deepcopy(raw)
    recid = md.get("recid", "(no recid)")
    src = str(source)
    for key in ("_bucket", "_files", "_availability_details", "$schema"):
        md.pop(key, None)
    if md.get("doi") == "":  # CERN records use "" for "no DOI yet"
        del md["doi"]
    for entry in md.get("files", []) if isinstance(md.get("files"), list) else []:
        if isinstance(entry, dict):
            for internal in ("bucket", "version_id"):
                entry.pop(internal, None)
            if isinstance(entry.get("checksum"), str):
                entry["checksum"] = normalise_checksum(entry["checksum"])
    validate_record(md, source=src, profile=profile)

    warnings: list[str] = []
    files: list[dict[str, Any]] = []
    indices: dict[str, IndexSpec] = {}
    inline = {i.get("key"): i for i in md.pop("_file_indices", []) or [] if isinstance(i, dict)}

    for entry in md.pop("files", []) or []:
        if entry.get("type") in INDEX_TYPES:
            name = entry.get("filename") or entry["uri"].rsplit("/", 1)[-1]
            key = _index_key(name)
            spec = indices.setdefault(key, IndexSpec(key=key, description=entry.get("description")))
            if entry["type"] == "index.json" or spec.uri is None:
                spec.uri = entry.get("uri")
            files.append(entry)
            continue
        files.append(entry)

    for spec_raw in md.pop("file_indices", []) or []:
        key = spec_raw["key"]
        spec = indices.setdefault(key, IndexSpec(key=key))
        spec.description = spec_raw.get("description", spec.description)
        if "files" in spec_raw:
            inline[key] = {"files": spec_raw["files"]}
        elif "path" in spec_raw:
            path = locator.find(spec_raw["path"], source)
            if path is None:
                raise Invalid(
                    N_("file index {path!r} not found"),
                    path=spec_raw["path"],
                    source=src,
                    record=recid,
                    field=f"file_indices[{key}].path",
                )
            spec.entries, spec.entries_digest = _lazy_entries(path), _digest(path)
            for _ in iter_index_file(path):
                pass

    for key, spec in indices.items():
        if spec.entries is not None:
            continue
        if key in inline and isinstance(inline[key].get("files"), list):
            entries = [
                _check_entry(e, f"{src} record {recid} index {key} entry {n}")
                for n, e in enumerate(inline[key]["files"])
            ]
            spec.entries = entries
            spec.entries_digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
            continue
        found = None
        for suffix in (".json", ".txt"):
            found = locator.find(key + suffix, source)
            if found:
                break
        if found is None:
            warnings.append(f"{src}: record {recid}: file index {key} not found locally; listed without entries")
            continue
        spec.entries, spec.entries_digest = _lazy_entries(found), _digest(found)
        # Validate eagerly so a broken index refuses the whole file before anything is stored.
        for _ in iter_index_file(found):
            pass

    return RecordInput(metadata=md, files=files, indices=list(indices.values()), source=src, warnings=warnings)


class _lazy_entries:  # noqa: N801 - reads like a function at the call site
    """Re-iterable view of an index file's entries (each iteration streams the file again)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter_index_file(self.path)


def default_profile(path: Path) -> Profile:
    """YAML files are our own record files (CERN publishes JSON only): they get the deposit profile."""
    return "deposit" if path.suffix.lower() in {".yaml", ".yml"} else "import"


def iter_record_file(
    path: Path, locator: IndexLocator | None = None, *, profile: Profile | None = None
) -> Iterator[RecordInput]:
    """The records of ``path``, validated one at a time as they are parsed (a JSON array is streamed).

    Raises :class:`Invalid` (file, record, field) at the first problem, which may come after records
    already yielded: a caller storing them must do so in one transaction to keep a file whole.
    ``profile`` defaults to :func:`default_profile`.
    """
    locator = locator or IndexLocator()
    profile = profile or default_profile(path)
    seen: dict[int, int] = {}
    for n, doc in enumerate(iter_documents(path)):
        item = to_record_input(doc, source=path, locator=locator, profile=profile)
        if item.recid in seen:
            raise Invalid(
                N_("recid appears twice in the file (entries {seen_item_recid} and {n})"),
                seen_item_recid=seen[item.recid],
                n=n,
                source=str(path),
                record=item.recid,
                field="recid",
            )
        seen[item.recid] = n
        yield item


def read_record_file(
    path: Path, locator: IndexLocator | None = None, *, profile: Profile | None = None
) -> list[RecordInput]:
    """Every record of ``path``, validated; raises :class:`Invalid` (file, record, field) for the first problem."""
    return list(iter_record_file(path, locator, profile=profile))
