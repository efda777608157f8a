"""A record page's first visit: its APA, Harvard and Chicago citations formatted by citeproc-py (later visits read
them from `rendered_citations`). In process, on SQLite, the demo catalogue plus the shared CERN Open Data corpus.

Rows: one reference formatted per style (`csl.format_citation` on every record's CSL-JSON item, the process's
caches bypassed), then `/record/<id>` through the Flask test client on a first visit (nothing stored, the
process's cache of references emptied) and on a second one (stored). BENCH_PROFILE=1 also prints a cProfile of
one first visit; BENCH_DUMP=<file> writes every formatted reference as JSON (to check that a change keeps them
byte-identical: run before and after, compare the files).
Env: BENCH_PAGES (record pages timed, default 40), BENCH_PROFILE, BENCH_DUMP, BENCH_CORPUS (the corpus's records
directory; default ../shared/corpus/cernopendata/records beside the checkout).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path

from benchmarks._http import stats_ms

PAGES = int(os.environ.get("BENCH_PAGES", "40"))
CORPUS = Path(
    os.environ.get("BENCH_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cernopendata" / "records"
)


def main() -> None:
    from sqlalchemy import select

    from portal.app import create_app, services_of
    from portal.catalog.importers import read_record_file
    from portal.db.models import Record
    from portal.demo import RECORDS as DEMO_RECORDS
    from portal.exports import csl
    from portal.exports.rendered import RENDERED

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"var_dir": tmp, "base_url": "http://portal.test"})
        svc = services_of(app)
        svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
        for path in sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []:
            svc.catalog.load(read_record_file(path))
        with svc.db.reader() as s:
            recids = list(s.scalars(select(Record.recid).where(Record.status == "published").order_by(Record.recid)))
        items = [csl.csl_json(svc.exports.record(r)) for r in recids]
        print(f"{len(items)} published record versions (demo catalogue + corpus)")
        texts: dict[str, dict[str, str]] = {}
        rows: list[tuple[str, list[float]]] = []
        for style in csl.STYLES:
            parsed = csl.bundled_style(style)
            samples = []
            for item in items:
                t0 = time.perf_counter()
                text = csl.format_citation(item, parsed)
                samples.append(time.perf_counter() - t0)
                texts.setdefault(item["id"], {})[style] = text
            rows.append((f"format_citation, {style} (one reference)", samples))
        if os.environ.get("BENCH_DUMP"):
            Path(os.environ["BENCH_DUMP"]).write_text(json.dumps(texts, indent=1, sort_keys=True), encoding="utf-8")

        client = app.test_client()
        pages = recids[:PAGES]
        first, again = [], []
        for recid in pages:
            csl._bundled_citation.cache_clear()
            with svc.db.transaction() as s:
                s.execute(RENDERED.delete())
            t0 = time.perf_counter()
            assert client.get(f"/record/{recid}").status_code == 200
            first.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.get(f"/record/{recid}")
            again.append(time.perf_counter() - t0)
        rows += [("/record/<id> first visit", first), ("/record/<id> again (stored)", again)]
        print(f"{'':<50}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
        for name, samples in rows:
            print(f"{name:<50}" + "".join(f"{v:>9.1f}" for v in stats_ms(samples)))

        if os.environ.get("BENCH_PROFILE"):
            csl._bundled_citation.cache_clear()
            with svc.db.transaction() as s:
                s.execute(RENDERED.delete())
            profile = cProfile.Profile()
            profile.enable()
            client.get(f"/record/{pages[-1]}")
            profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("cumulative").print_stats(35)
            stats.sort_stats("tottime").print_stats(25)
            print(out.getvalue())
        svc.search.close()


if __name__ == "__main__":
    main()
