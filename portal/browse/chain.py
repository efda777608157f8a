"""A derived record's evidence chain as a small graph: the result, the data it is derived from (and its input
files), the code that compiled it and the environment that code needs. Laid out here, drawn as SVG by the page
(server-rendered: it needs no script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: relations of a result that lead back to the data, in the order the graph lists them
CHAIN_RELATIONS = ("isDerivedFrom", "isCompiledBy", "requires")
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 250, 54, 110, 22, 10


@dataclass(frozen=True)
class Node:
    key: str
    kind: str  # result | data | code | environment | files
    label: str
    detail: str
    href: str | None
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Chain:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: int
    height: int


def _short(text: str, n: int = 36) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def evidence_chain(
    recid: int,
    title: str,
    outgoing: list[dict[str, Any]],
    *,
    metadata_of: Callable[[int], dict[str, Any] | None],
    link: Callable[[int], str],
    input_files: int | None = None,
) -> Chain | None:
    """The chain of record ``recid`` from its ``outgoing`` relations (as the record page lists them: each with a
    resolved ``recid`` and ``title``); None when it has no relation back to data or code. ``metadata_of`` reads
    a related record (for the environment its code requires); ``link`` is a record's page URL."""
    picked = [r for r in outgoing if r.get("type") in CHAIN_RELATIONS and r.get("recid")]
    if not any(r["type"] in ("isDerivedFrom", "isCompiledBy") for r in picked):
        return None
    kinds = {"isDerivedFrom": "data", "isCompiledBy": "code", "requires": "environment"}
    column: list[tuple[str, str, str, int]] = []  # (relation, kind, title, recid)
    seen: set[int] = set()
    for rel in sorted(picked, key=lambda r: CHAIN_RELATIONS.index(r["type"])):
        target = int(rel["recid"])
        if target in seen:
            continue
        seen.add(target)
        column.append((rel["type"], kinds[rel["type"]], str(rel.get("title") or f"Record {target}"), target))
    # the code's own environment, when the result itself does not name it
    code_needs: list[tuple[int, int, str]] = []
    for _rel, kind, _t, target in list(column):
        if kind != "code":
            continue
        for rel in (metadata_of(target) or {}).get("relations") or []:
            if rel.get("type") == "requires" and str(rel.get("recid", "")).isdigit():
                env = int(rel["recid"])
                md = metadata_of(env) or {}
                if env not in seen:
                    seen.add(env)
                    column.append(("requires", "environment", str(md.get("title") or f"Record {env}"), env))
                code_needs.append((target, env, "requires"))
    x0, x1, x2 = PAD, PAD + BOX_W + GAP_X, PAD + 2 * (BOX_W + GAP_X)
    rows = max(1, len(column))
    height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y
    nodes = [Node(f"r{recid}", "result", _short(title), f"record {recid}", None, x0, (height - BOX_H) // 2)]
    edges: list[Edge] = []
    where: dict[int, Node] = {}
    for i, (how, kind, label, target) in enumerate(column):
        node = Node(
            f"r{target}", kind, _short(label), f"{kind} · record {target}", link(target), x1, PAD + i * (BOX_H + GAP_Y)
        )
        nodes.append(node)
        where[target] = node
        if any(int(r["recid"]) == target for r in picked):  # the result names it itself
            edges.append(_edge(nodes[0], node, how))
    for code, env, needs in code_needs:
        if code in where and env in where:
            edges.append(_edge(where[code], where[env], needs, vertical=True))
    width = x1 + BOX_W + PAD
    data = next((n for n in nodes if n.kind == "data"), None)
    if data is not None and input_files:
        files = Node(
            "files",
            "files",
            f"{input_files} input file{'s' if input_files != 1 else ''}",
            "checksums in inputs.json",
            None,
            x2,
            data.y,
        )
        nodes.append(files)
        edges.append(_edge(data, files, "read"))
        width = x2 + BOX_W + PAD
    return Chain(tuple(nodes), tuple(edges), width, height)


def _edge(a: Node, b: Node, label: str, *, vertical: bool = False) -> Edge:
    if vertical:  # two boxes of one column: along their right side
        return Edge(a.key, b.key, label, a.x + BOX_W - 20, a.y + BOX_H, b.x + BOX_W - 20, b.y)
    return Edge(a.key, b.key, label, a.x + BOX_W, a.y + BOX_H // 2, b.x, b.y + BOX_H // 2)
