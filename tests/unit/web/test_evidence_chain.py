"""The evidence chain's graph: a result's relations back to data, code and the code's environment, laid out in
columns; records without such relations draw none."""

from __future__ import annotations

from portal.browse.chain import evidence_chain

RECORDS = {
    2: {"title": "Code", "relations": [{"type": "requires", "recid": "3"}]},
    3: {"title": "Environment"},
}


def _chain(outgoing, **kw):
    return evidence_chain(9, "Result", outgoing, metadata_of=RECORDS.get, link=lambda r: f"/record/{r}", **kw)


def test_the_code_brings_its_environment_and_the_data_its_files() -> None:
    chain = _chain(
        [
            {"type": "isDerivedFrom", "recid": 1, "title": "Data"},
            {"type": "isCompiledBy", "recid": 2, "title": "Code"},
            {"type": "isReferencedBy", "recid": 7, "title": "Paper"},
        ],
        input_files=3,
    )
    assert chain is not None
    assert [(n.key, n.kind) for n in chain.nodes] == [
        ("r9", "result"),
        ("r1", "data"),
        ("r2", "code"),
        ("r3", "environment"),
        ("files", "files"),
    ]
    edges = {(e.source, e.target, e.label) for e in chain.edges}
    assert edges == {
        ("r9", "r1", "isDerivedFrom"),
        ("r9", "r2", "isCompiledBy"),
        ("r2", "r3", "requires"),
        ("r1", "files", "read"),
    }
    assert next(n for n in chain.nodes if n.key == "files").label == "3 input files"
    assert all(n.x >= 0 and n.x + 250 <= chain.width and n.y >= 0 and n.y + 54 <= chain.height for n in chain.nodes)


def test_no_chain_without_data_or_code() -> None:
    assert _chain([{"type": "requires", "recid": 3}]) is None
    assert _chain([]) is None
