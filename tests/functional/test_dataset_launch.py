"""Open a dataset in JupyterLab on a real JupyterHub: the chosen environment, the dataset's files as the fileset
(root:// URLs of a real XRootD server), and a starter notebook whose cells read a file over root:// and HTTPS in
the session's own kernel; Binder-style /v2/zenodo/<DOI> launches; the record page's choice and badge."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator

import pytest
import requests

from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.launch.hub import Hub, free_port
from tests.functional.test_launch import sse_events
from tests.support.jupyter import run_code
from tests.support.live import live_server
from tests.support.xrootd import served_tempdir, skip_reason, xrootd_over


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = Hub(tmp_path_factory.mktemp("hub")).start()
    yield hub
    hub.stop()


def test_a_dataset_opens_with_a_starter_notebook_reading_its_files(hub: Hub, make_app) -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    data = served_tempdir()
    try:
        generate("tiny", data / "cms-dimuon-demo", formats=("root",))
        with xrootd_over(data) as server:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            app = make_app(
                launch_hub_url=hub.url,
                launch_hub_token=hub.token,
                data_dir=str(data),
                xrootd_url=server.url,
                xrootd_export=data.name,
                base_url=base,
            )
            svc = app.extensions["portal"]
            svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
            report = svc.ingester.ingest_path(svc.storage, "cms-dimuon-demo")
            svc.catalog.ingest_files(90001, report.file_rows("cms-dimuon-demo"), report.distribution())
            with live_server(app, port):
                record = requests.get(f"{base}/record/90001", timeout=30).text
                assert 'action="/launch/dataset/90001"' in record and 'name="env"' in record
                assert "/v2/zenodo/10.5072/portal.90001" in record
                # the dataset names no environment: the default is the one that reads event files (uproot)
                assert '<option value="hep-analysis" selected>hep-analysis (default)</option>' in record
                page = requests.get(f"{base}/launch/dataset/90001?env=hep-analysis", timeout=30)
                assert page.status_code == 200 and "record 90001 in hep-analysis" in page.text
                events = sse_events(f"{base}/launch/dataset/90001/events?env=hep-analysis", timeout=600)
                assert events[-1]["phase"] == "ready", events
                assert str(events[-1]["url"]).endswith("/lab/tree/dataset-90001.ipynb")
                server_url = str(events[-1]["server_url"])
                # the session's own copy of the starter notebook, run cell by cell in its kernel
                nb = requests.get(
                    f"{server_url}api/contents/dataset-90001.ipynb",
                    headers={"Authorization": f"token {hub.token}"},
                    timeout=30,
                ).json()["content"]
                cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
                out = run_code(server_url, hub.token, "\n".join(cells), timeout=180)
                lines = out.strip().splitlines()
                assert lines[0] == "2 files in the fileset", out
                # over root:// (the XRootD server) and over HTTPS (the portal), each read as ROOT
                assert any(
                    re.fullmatch(r"5000 events in root://\S+/cms-dimuon-demo/nanoaod_000\.root", x) for x in lines
                ), out
                assert any(re.fullmatch(rf"\d+ bytes from {base}/record/90001/files/\S+\.root", x) for x in lines), out
                assert lines[-1] == "5000 events", out

                fileset = run_code(server_url, hub.token, "print(open('fileset.json').read())")
                assert all(f["uri"].startswith("root://") for f in json.loads(fileset)["files"])

                v2 = requests.get(f"{base}/v2/zenodo/10.5072/portal.90001", timeout=30)
                assert v2.status_code == 200 and "/build/zenodo/10.5072/portal.90001" in v2.text
                unknown = requests.get(f"{base}/launch/dataset/90001?env=no-such-env", timeout=30)
                assert unknown.status_code == 404 and "hep-analysis" in unknown.text
                software = requests.get(f"{base}/launch/dataset/90004", timeout=30)
                assert software.status_code == 400 and "not a dataset" in software.text
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
