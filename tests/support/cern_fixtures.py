"""CERN Open Data's published record files in the tests: where they are, what a faithful round trip through
`/api/records/<recid>` means, and how the representative sample was chosen.

The record files come from `cernopendata/opendata.cern.ch` (`data/records/*.json`, the portal's record
fixtures). The representative sample the suite loads is kept under `tests/data/cernopendata-sample/` (its
source and commit are in the `README.md` there); the whole fixture set is not in this repository (see
`docs/records.md` for the command that imports all of it).

Rebuild the sample from a full copy of the record files with
``python -m tests.support.cern_fixtures SRC_DIR OUT_DIR``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from portal.catalog.importers import INDEX_TYPES, iter_documents, normalise_checksum

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cernopendata-sample"

# Fields CERN's files carry for its own Invenio instance, dropped on load (see docs/records.md).
_INTERNAL = ("_bucket", "_files", "_availability_details", "$schema")


def _strip_index_suffix(name: str) -> str:
    return name.rsplit(".", 1)[0] if name.endswith((".json", ".txt")) else name


def round_trip_problems(source: dict[str, Any], served: dict[str, Any]) -> list[str]:
    """How the metadata ``served`` by `/api/records/<recid>` differs from the record file's ``source``.

    Empty when every source field comes back unchanged, up to the documented normalisations: internal
    fields dropped, `doi: ""` dropped, DOIs compared case-insensitively, adler32 checksums normalised,
    and index files (`index.json`/`index.txt`) served as `_file_indices` rather than in `files`.
    Each problem reads "field: what differs".
    """
    problems = []
    for key, value in source.items():
        if key in _INTERNAL or (key == "doi" and value == ""):
            continue
        if key == "doi":
            if str(served.get("doi", "")).lower() != value.lower():
                problems.append(f"doi: {served.get('doi')!r} != {value!r}")
        elif key == "files":
            problems += _file_problems(value, served)
        elif served.get(key) != value:
            problems.append(f"{key}: {json.dumps(served.get(key))[:120]} != {json.dumps(value)[:120]}")
    return problems


def _file_problems(files: list[dict[str, Any]], served: dict[str, Any]) -> list[str]:
    direct = [f for f in files if f.get("type") not in INDEX_TYPES]
    got = served.get("files") or []
    if len(got) != len(direct):
        return [f"files: {len(got)} served, {len(direct)} in the source"]
    problems = []
    for n, (want, have) in enumerate(zip(direct, got, strict=True)):
        for field, value in want.items():
            expected = normalise_checksum(value) if field == "checksum" else value
            if have.get(field) != expected:
                problems.append(f"files[{n}].{field}: {have.get(field)!r} != {expected!r}")
    keys = {_strip_index_suffix(f.get("filename") or f["uri"].rsplit("/", 1)[-1]) for f in files if f not in direct}
    served_keys = {i["key"] for i in served.get("_file_indices") or []}
    if keys != served_keys:
        problems.append(f"_file_indices: {sorted(served_keys)} != {sorted(keys)}")
    return problems


# ----------------------------------------------------------------------------- choosing the sample
def _shapes(value: Any, path: str = "") -> Iterator[str]:
    """Every (JSON path, value type) of ``value``: the structural variety a sample must cover."""
    yield f"{path}:{type(value).__name__}"
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _shapes(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _shapes(v, f"{path}[]")


def features(record: dict[str, Any]) -> set[str]:
    """What a record shows of the catalogue's variety: its type and subtype, experiments, collision type,
    licence, relation types and forms, checksum algorithms and file kinds, every field shape, and the
    cases that once broke a round trip or an export."""
    out = set(_shapes(record))
    rtype = record.get("type") or {}
    for sub in rtype.get("secondary") or [None]:
        out.add(f"type={rtype.get('primary')}/{sub}")
    out |= {f"experiment={e}" for e in record.get("experiment") or []}
    out.add(f"collision={(record.get('collision_information') or {}).get('type')}")
    out.add(f"license={(record.get('license') or {}).get('attribution')}")
    for rel in record.get("relations") or []:
        out.add(f"relation={rel.get('type')}")
        out.add(f"relation-form={'+'.join(sorted(k for k in rel if k not in ('type', 'description')))}")
    for author in record.get("authors") or []:
        parts = [a.strip() for a in str(author.get("affiliation", "")).split(";") if a.strip()]
        if len(set(parts)) < len(parts):
            out.add("affiliation-repeated")  # DataCite wants each affiliation of a creator once
    direct = [f for f in record.get("files") or [] if f.get("type") not in INDEX_TYPES]
    if len(direct) > 1000:
        out.add("direct-files>1000")  # more than a record view holds: the API streams them from rows
    for f in record.get("files") or []:
        out.add(f"file-type={f.get('type')}")
        algo, _, digest = str(f.get("checksum", "")).partition(":")
        out.add(f"checksum={algo}{'-unpadded' if algo == 'adler32' and len(digest) < 8 else ''}")
    return out


def select_sample(src: Path) -> dict[str, list[dict[str, Any]]]:
    """{file name: its chosen records}: for every feature, the smallest record showing it."""
    best: dict[str, tuple[int, str, str]] = {}  # feature -> (size, file, recid)
    for path in sorted(src.glob("*.json")):
        for record in iter_documents(path):
            size = len(json.dumps(record))
            for feature in features(record):
                if feature not in best or size < best[feature][0]:
                    best[feature] = (size, path.name, str(record["recid"]))
    wanted = {(name, recid) for _, name, recid in best.values()}
    sample: dict[str, list[dict[str, Any]]] = {}
    for name in sorted({name for name, _ in wanted}):
        sample[name] = [r for r in iter_documents(src / name) if (name, str(r["recid"])) in wanted]
    return sample


def main(argv: list[str]) -> None:
    src, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, records in select_sample(src).items():
        (out / name).write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        total += len(records)
    print(f"{total} records in {len(list(out.glob('*.json')))} files written to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
