"""The Helm chart (helm/portal), checked without a cluster: Helm's own Go library (helm-python-sdk) lints and renders
it offline for the default values and the two CI value files, every manifest validates against the Kubernetes
schemas (kubernetes-validate), and the wiring is asserted against the portal itself: its settings, its routes, its
CLI and the options its JupyterHub launcher sends.

The dependencies (zero-to-jupyterhub, dask-gateway) are declared, not vendored; Helm renders without them (lint
reports them missing), so their values are checked here as data, and the hook code they carry is run.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
import yaml

chart = pytest.importorskip("helm_python.chart", reason="helm-python-sdk (dev extra) is not installed")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra) missing")

from portal.app import create_app, services_of  # noqa: E402
from portal.cli import main as cli_main  # noqa: E402
from portal.environments.builders import Repo2DockerBuilder  # noqa: E402
from portal.environments.podman_builder import PodmanBuilder  # noqa: E402
from portal.settings import DECLARATIONS, load_settings  # noqa: E402

CHART = Path(__file__).resolve().parents[2] / "helm" / "portal"
KUBERNETES_VERSION = "1.31.0"  # the oldest release the chart targets (autoscaling/v2, policy/v1)
RELEASE = "demo"
VALUE_SETS = {
    "default": {},
    "external": yaml.safe_load((CHART / "ci" / "external-values.yaml").read_text()),
    "in-cluster": yaml.safe_load((CHART / "ci" / "in-cluster-values.yaml").read_text()),
}
#: custom resources: their operator's schema is not among Kubernetes' own, so they are checked by hand below
CRDS = {("postgresql.cnpg.io/v1", "Cluster")}
#: settings the portal cannot run without in a cluster (database, keys, storage, where to listen)
REQUIRED_ENV = {
    "PORTAL_DATABASE_URL",
    "PORTAL_SECRET_KEY",
    "PORTAL_BASE_URL",
    "PORTAL_HOST",
    "PORTAL_PORT",
    "PORTAL_VAR_DIR",
    "PORTAL_STORAGE_BACKEND",
    "PORTAL_XROOTD_URL",
    "PORTAL_SEARCH_BACKEND",
}
#: helper variables the chart uses to assemble PORTAL_DATABASE_URL by $(VAR) expansion; not settings
HELPER_ENV = {"PORTAL_DB_USER", "PORTAL_DB_PASSWORD"}


@pytest.fixture(scope="module")
def loaded() -> Any:
    return chart.Chart.load(str(CHART))


def render(loaded: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    out = loaded.render(values=values, name=RELEASE, namespace="portal", is_install=True)
    docs = []
    for text in out.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def manifests(request: pytest.FixtureRequest, loaded: Any) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    name = request.param
    return name, merged_values(VALUE_SETS[name]), render(loaded, VALUE_SETS[name])


def merged_values(overrides: dict[str, Any]) -> dict[str, Any]:
    def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in top.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    return merge(yaml.safe_load((CHART / "values.yaml").read_text()), overrides)


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def cli_commands(group: str = "") -> list[str]:
    """The subcommands of `portal` (or of `portal <group>`), as `portal --help` lists them."""
    ctx = click.Context(cli_main)
    command: click.Command | None = cli_main if not group else cli_main.get_command(ctx, group)
    assert isinstance(command, click.Group)
    return command.list_commands(ctx)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_the_chart_lints_clean_but_for_the_undownloaded_dependencies() -> None:
    report = chart.lint(str(CHART))
    assert report["errors"] == []
    problems = [m["error"] for m in report["messages"] if m["severity"] >= 2]
    # the dependencies are declared, not vendored: `helm dependency build` fetches them into the git-ignored charts/
    assert set(problems) <= {"chart directory is missing these dependencies: jupyterhub,dask-gateway"}
    assert "charts/" in (CHART / ".gitignore").read_text().split()
    deps = {d["name"]: d for d in yaml.safe_load((CHART / "Chart.yaml").read_text())["dependencies"]}
    assert deps["jupyterhub"]["repository"] == "https://hub.jupyter.org/helm-chart/"
    assert deps["dask-gateway"]["repository"] == "https://helm.dask.org/"
    assert {d["condition"] for d in deps.values()} == {"jupyterhub.enabled", "dask-gateway.enabled"}


def test_every_manifest_validates_against_the_kubernetes_schemas(manifests: Any) -> None:
    _name, _values, docs = manifests
    assert len(docs) >= 8
    skipped = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            skipped.append(doc)
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    for doc in skipped:  # CloudNativePG's Cluster: the fields its operator requires
        assert doc["spec"]["instances"] >= 1
        assert doc["spec"]["storage"]["size"]
        assert set(doc["spec"]["bootstrap"]["initdb"]) == {"database", "owner"}


def test_the_value_sets_render_what_they_choose(manifests: Any) -> None:
    name, _values, docs = manifests
    kinds = sorted({d["kind"] for d in docs})
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "Ingress"} <= set(kinds)
    clusters = of_kind(docs, "Cluster")
    xrootd = of_kind(docs, "StatefulSet")
    workers = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-worker")]
    if name == "in-cluster":
        assert [c["metadata"]["name"] for c in clusters] == ["demo-portal-db"]
        (sts,) = xrootd
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"
    else:
        assert clusters == [] and xrootd == []
    assert len(workers) == 1  # `portal worker` runs the queued jobs in every value set


def test_the_portal_gets_every_setting_it_needs_and_only_real_ones(manifests: Any) -> None:
    name, values, docs = manifests
    declared = {s.env for s in DECLARATIONS}
    for spec in pod_specs(docs):
        for container in spec["containers"]:
            if container["name"] == "xrootd":
                continue
            env = env_of(container)
            assert set(env) >= REQUIRED_ENV, f"{container['name']}: missing {REQUIRED_ENV - set(env)}"
            assert set(env) - HELPER_ENV <= declared, f"not a setting: {set(env) - HELPER_ENV - declared}"
            # the literal values parse as the portal parses them (no $(VAR) expansion here: placeholders)
            literal = {k: e["value"] for k, e in env.items() if "value" in e and k not in HELPER_ENV}
            settings = load_settings(environ={**literal, "PORTAL_SECRET_KEY": "x"})
            assert settings.storage_backend == "xrootd" and settings.search_backend == "postgres"
            assert settings.host == "0.0.0.0" and settings.load_demo is False
            # secrets arrive by reference, never as a value in the manifest
            secret_settings = (
                "SECRET_KEY",
                "LAUNCH_HUB_TOKEN",
                "GATEWAY_PASSWORD",
                "OIDC_PROVIDERS",
                "DATACITE_PASSWORD",
            )
            for key in (f"PORTAL_{name}" for name in secret_settings):
                assert key not in env or "valueFrom" in env[key]
            database = env["PORTAL_DATABASE_URL"]
            if name == "in-cluster":
                assert database["value"].startswith("postgresql+psycopg://$(PORTAL_DB_USER):$(PORTAL_DB_PASSWORD)@")
                assert "demo-portal-db-rw:5432/portal" in database["value"]
                # $(VAR) expands only variables defined earlier in the list
                names = [e["name"] for e in container["env"]]
                assert names.index("PORTAL_DB_PASSWORD") < names.index("PORTAL_DATABASE_URL")
            else:
                ref = database["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == (
                    values["database"]["external"]["existingSecret"],
                    values["database"]["external"]["key"],
                )
    web = named(docs, "Deployment", "demo-portal-web")["spec"]["template"]["spec"]["containers"][0]
    env = env_of(web)
    if name == "external":
        assert env["PORTAL_XROOTD_URL"]["value"] == "root://eospublic.example.org:1094"
        assert env["PORTAL_LAUNCH_HUB_URL"]["value"] == "https://hub.example.org"
        assert env["PORTAL_API_MAX_PAGE_SIZE"]["value"] == "500"
        assert env["PORTAL_PROCESSING_SCHEDULER"]["value"] == "tcp://dask-scheduler.analysis:8786"
    elif name == "in-cluster":
        assert env["PORTAL_XROOTD_URL"]["value"] == "root://demo-portal-xrootd:1094"
    else:
        assert env["PORTAL_LAUNCH_HUB_URL"]["value"] == "http://proxy-public"  # zero-to-jupyterhub's proxy Service
        # analyses on each person's own cluster from the bundled gateway, signed in with the shared password
        assert env["PORTAL_PROCESSING_EXECUTOR"]["value"] == "gateway"
        assert env["PORTAL_GATEWAY_URL"]["value"] == "http://traefik-dask-gateway"
        ref = env["PORTAL_GATEWAY_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "portal-secrets", "key": "gateway-password"}
        assert values["dask-gateway"]["fullnameOverride"] == "dask-gateway"  # its proxy is traefik-dask-gateway


def test_web_serves_with_gunicorn_and_its_probes_hit_real_routes(manifests: Any, tmp_path: Path) -> None:
    _name, _values, docs = manifests
    deployment = named(docs, "Deployment", "demo-portal-web")
    (web,) = deployment["spec"]["template"]["spec"]["containers"]
    assert web["command"][:2] == ["portal", "serve"]
    assert "serve" in cli_commands()
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["resources"]["requests"] and web["resources"]["limits"]
    app = create_app({"database_url": f"sqlite:///{tmp_path}/portal.db", "var_dir": str(tmp_path / "var")})
    rules = {r.rule for r in app.url_map.iter_rules()}
    client = app.test_client()
    services_of(app).search.prepare(refresh_interval=0)  # as a worker does once it has started
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        path = web[probe]["httpGet"]["path"]
        assert path in rules
        assert client.get(path).status_code == 200, path
    port = {p["name"]: p["containerPort"] for p in web["ports"]}["http"]
    assert env_of(web)["PORTAL_PORT"]["value"] == str(port)
    # the HPA and the PDB act on this Deployment's pods
    hpa = named(docs, "HorizontalPodAutoscaler", "demo-portal-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    pdb = named(docs, "PodDisruptionBudget", "demo-portal-web")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert "replicas" not in deployment["spec"]  # the HPA owns it


def test_migrations_run_as_a_helm_hook_with_a_real_command(manifests: Any) -> None:
    _name, _values, docs = manifests
    job = named(docs, "Job", "demo-portal-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == ["portal", "db", "upgrade"]
    assert "upgrade" in cli_commands("db")


def test_the_worker_deployment_runs_the_worker_command(manifests: Any) -> None:
    """The worker Deployment is on by default and runs `portal worker`, a command the portal has."""
    name, values, docs = manifests
    workers = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "demo-portal-worker"]
    assert values["worker"]["command"][:2] == ["portal", "worker"]
    assert "worker" in cli_commands()
    assert merged_values({})["worker"]["enabled"] is True
    assert len(workers) == 1
    for worker in workers:
        (container,) = worker["spec"]["template"]["spec"]["containers"]
        assert container["command"] == values["worker"]["command"]
        assert set(env_of(container)) >= REQUIRED_ENV


def test_every_secret_referenced_is_rendered_or_the_sites_own(manifests: Any) -> None:
    name, values, docs = manifests
    rendered = {d["metadata"]["name"]: set(d.get("data") or {}) for d in of_kind(docs, "Secret")}
    # made by others: the site (existingSecret values), cert-manager (the Ingress TLS), CloudNativePG (<cluster>-app)
    documented = {values["secrets"]["existingSecret"], values["database"]["external"]["existingSecret"]}
    documented |= {i["spec"]["tls"][0]["secretName"] for i in of_kind(docs, "Ingress")}
    documented |= {f"{c['metadata']['name']}-app" for c in of_kind(docs, "Cluster")}
    refs = []
    for spec in pod_specs(docs):
        for container in spec["containers"]:
            for e in container.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.append((ref["name"], ref["key"], ref.get("optional", False)))
    assert refs
    for secret, key, optional in refs:
        if secret in rendered:
            assert key in rendered[secret] or optional, f"{secret} has no key {key}"
        else:
            assert secret in documented - {""}, f"secret {secret} is neither rendered nor documented"
    if name == "external":
        assert rendered == {}  # the site brings its own keys
    else:
        assert rendered == {"portal-secrets": {"secret-key", "hub-token", "gateway-token", "gateway-password"}}
    # the dependencies read their tokens from the same Secret the portal does
    hub_env = values["jupyterhub"]["hub"]["extraEnv"]
    hub_refs = {v["valueFrom"]["secretKeyRef"]["name"] for v in hub_env.values() if isinstance(v, dict)}
    assert hub_refs == {values["secrets"]["name"]}
    (gateway_env,) = values["dask-gateway"]["gateway"]["env"]
    assert gateway_env["valueFrom"]["secretKeyRef"] == {"name": values["secrets"]["name"], "key": "gateway-password"}
    auth = values["dask-gateway"]["gateway"]["auth"]["jupyterhub"]
    assert (
        auth["apiTokenFromSecretName"] == values["secrets"]["name"] and auth["apiTokenFromSecretKey"] == "gateway-token"
    )


def test_the_ingress_terminates_tls_for_the_portal(manifests: Any) -> None:
    _name, values, docs = manifests
    (ingress,) = of_kind(docs, "Ingress")
    assert ingress["spec"]["tls"][0]["hosts"] == [values["ingress"]["host"]]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == named(docs, "Service", "demo-portal")["metadata"]["name"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def peer_admits(peer: dict[str, Any], labels: dict[str, str], ip: str | None = None) -> bool:
    """Whether one NetworkPolicy peer matches a pod with ``labels`` (same namespace) or the address ``ip``."""
    if "ipBlock" in peer:
        if ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if "namespaceSelector" in peer and "podSelector" not in peer:
        return False  # other namespaces
    return selects(peer.get("podSelector", {}), labels)


def egress_allows(policy: dict[str, Any], labels: dict[str, str], port: int, ip: str | None = None) -> bool:
    for rule in policy["spec"].get("egress", []):
        ports = {p["port"] for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        peers = rule.get("to")
        if peers is None or any(peer_admits(p, labels, ip) for p in peers):
            return True
    return False


def test_sessions_reach_xrootd_and_the_gateway_but_never_the_database(manifests: Any) -> None:
    name, values, docs = manifests
    session = {"component": "singleuser-server", "app": "jupyterhub"}
    policies = of_kind(docs, "NetworkPolicy")
    sessions = named(docs, "NetworkPolicy", "demo-portal-sessions")
    assert selects(sessions["spec"]["podSelector"], session)
    assert sessions["spec"]["policyTypes"] == ["Egress"]
    assert egress_allows(sessions, {"app.kubernetes.io/name": "dask-gateway"}, 8000)
    if name == "in-cluster":
        db_pod = {"cnpg.io/cluster": "demo-portal-db", "cnpg.io/instanceRole": "primary"}
        xrootd_pod = named(docs, "StatefulSet", "demo-portal-xrootd")["spec"]["template"]["metadata"]["labels"]
        assert egress_allows(sessions, xrootd_pod, 1094)
        assert not egress_allows(sessions, db_pod, 5432)
        # and the database's own policy admits the portal's processes, not sessions
        (guard,) = [p for p in policies if selects(p["spec"]["podSelector"], db_pod)]
        assert guard["spec"]["policyTypes"] == ["Ingress"]
        admitted = [peer for rule in guard["spec"]["ingress"] for peer in rule.get("from", [])]
        assert not any(peer_admits(p, session) for p in admitted)
        for component in ("web", "worker", "migrate"):
            (doc,) = [
                d
                for d in docs
                if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"] == f"demo-portal-{component}"
            ]
            assert any(peer_admits(p, doc["spec"]["template"]["metadata"]["labels"]) for p in admitted)
    else:
        # an external database on a private address, or on the site's network named in denyCIDRs
        assert not egress_allows(sessions, {}, 5432, ip="10.1.2.3")
        for cidr in values["networkPolicy"]["sessions"]["denyCIDRs"]:
            host = str(next(ipaddress.ip_network(cidr).hosts()))
            assert not egress_allows(sessions, {}, 5432, ip=host)
        for cidr in values["xrootd"]["external"]["cidrs"]:
            assert egress_allows(sessions, {}, 1094, ip=str(next(ipaddress.ip_network(cidr).hosts())))
    # the hub's own policy adds no public or private range (its egressAllowRules are off)
    rules = values["jupyterhub"]["singleuser"]["networkPolicy"]["egressAllowRules"]
    assert rules == {"nonPrivateIPs": False, "privateIPs": False}


def test_the_hubs_spawn_hook_applies_the_options_the_portal_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The options are built exactly as JupyterHubLauncher.launch builds them (portal/launch/jupyterhub.py)."""
    from portal.launch import jupyterhub as launcher_module

    source = Path(launcher_module.__file__).read_text()
    for key in ('"python"', '"workdir"', '"default_url"', '"env"', '"PORTAL_ENVIRONMENT_KEY"', '"image"'):
        assert key in source, f"the launcher no longer sends {key}: update the hub's pre_spawn_hook"
    hub = merged_values({})["jupyterhub"]["hub"]
    c = SimpleNamespace(KubeSpawner=SimpleNamespace(), JupyterHub=SimpleNamespace(services=[]))
    monkeypatch.setenv("PORTAL_LAUNCH_REGISTRY", hub["extraEnv"]["PORTAL_LAUNCH_REGISTRY"])  # as the hub pod has it
    exec(hub["extraConfig"]["portal-user-options"], {"c": c})  # noqa: S102 - the chart's own hub config
    spawner = SimpleNamespace(user_options={}, image="base", default_url="", environment={})
    spawner.user_options = {
        "python": "/srv/builds/abc/bin/python",
        "workdir": str(tmp_path / "alice" / "r1-abc"),
        "default_url": "/lab/tree/analysis.ipynb",
        "env": {"PORTAL_RECORD": 100001, "PORTAL_FILESET": "/x/fileset.json", "PORTAL_ENVIRONMENT_KEY": "abc123"},
    }
    c.KubeSpawner.pre_spawn_hook(spawner)
    # without an image option: the repo2docker builder's image of that key, in the registry the portal pushes to
    registry = hub["extraEnv"]["PORTAL_LAUNCH_REGISTRY"]
    assert spawner.image == Repo2DockerBuilder(tmp_path, registry=registry).image_ref("abc123")
    assert spawner.default_url == "/lab/tree/analysis.ipynb"
    assert spawner.environment["PORTAL_RECORD"] == "100001"
    # the image the portal sends wins: a pinned record version relaunches its pinned image (by digest too)
    for image in (f"{registry}/portal-env:pinned", f"{registry}/portal-env@sha256:{'0' * 64}"):
        spawner.user_options = {**spawner.user_options, "image": image}
        c.KubeSpawner.pre_spawn_hook(spawner)
        assert spawner.image == image
    # nothing but the portal's builds starts
    for image in ("docker.io/library/python:3.11", f"{registry}/portal-env-evil:x", "localhost/portal-env:k"):
        spawner.user_options = {**spawner.user_options, "image": image}
        with pytest.raises(ValueError, match="refusing image"):
            c.KubeSpawner.pre_spawn_hook(spawner)
    # the services' tokens come from the hub's environment (the portal's Secret), not from values
    c.JupyterHub.services = [{"name": "portal"}, {"name": "dask-gateway"}, {"name": "other"}]
    monkeypatch.setenv("PORTAL_HUB_SERVICE_TOKEN", "t-portal")
    monkeypatch.setenv("DASK_GATEWAY_SERVICE_TOKEN", "t-gateway")
    exec(hub["extraConfig"]["portal-service-tokens"], {"c": c})  # noqa: S102
    assert [s.get("api_token") for s in c.JupyterHub.services] == ["t-portal", "t-gateway", None]
    assert "apiToken" not in hub["services"]["portal"]


@pytest.mark.parametrize(
    "values, field",
    [
        ({"database": {"mode": "sqlite"}}, "/database/mode"),
        ({"xrootd": {"external": {"url": "http://eos"}}}, "/xrootd/external/url"),
        ({"portal": {"env": {"SECRET": "x"}}}, "/portal/env"),
        ({"processing": {"executor": "remote"}}, "/processing/scheduler"),
        ({"web": {"replicas": 0}}, "/web/replicas"),
        # the bundled hub's KubeSpawner pulls from a registry: only repo2docker's images get there
        ({"launch": {"builder": "podman"}}, "/launch/builder"),
        ({"launch": {"builder": "venv"}}, "/launch/builder"),
        ({"launch": {"registry": ""}}, "/launch/registry"),
        ({"launch": {"dockerUrl": "docker.example.org"}}, "/launch/dockerUrl"),
        ({"launch": {"podman": {"buildNetwork": "bridge"}}}, "/launch/podman/buildNetwork"),
    ],
)
def test_the_schema_refuses_bad_values_naming_the_field(loaded: Any, values: dict[str, Any], field: str) -> None:
    from helm_python.errors import HelmValuesError

    with pytest.raises(HelmValuesError) as err:
        loaded.render(values=values, name=RELEASE)
    assert field in str(err.value)


def test_the_image_and_the_chart_agree(manifests: Any) -> None:
    """The Containerfile builds what the chart runs: its user, its paths, its extras, the xrootd server binary."""
    _name, values, docs = manifests
    root = CHART.parents[1]
    containerfile = (root / "Containerfile").read_text()
    for line in containerfile.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (root / source).exists(), f"Containerfile copies {source}, which is not in the checkout"
    extras = next(line.split("=", 1)[1] for line in containerfile.splitlines() if line.startswith("ARG EXTRAS="))
    declared = _pyproject()["project"]["optional-dependencies"]
    assert set(extras.split(",")) <= set(declared)
    # releases read CITATION.cff with cffconvert, which `make install` adds --no-deps (its jsonschema<4 pin): the
    # image must do the same, at the same version, or conversion fails only in production
    assert "releases" in extras.split(",")
    pin = re.search(r"--no-deps '(cffconvert==[^']+)'", (root / "Makefile").read_text())
    assert pin and f"--no-deps '{pin.group(1)}'" in containerfile
    assert "USER 10001" in containerfile and "xrootd-server" in containerfile
    assert "PORTAL_VAR_DIR=/var/lib/portal" in containerfile
    for spec in pod_specs(docs):
        assert spec["securityContext"]["runAsUser"] == 10001
        for container in spec["containers"]:
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            env = env_of(container)
            if "PORTAL_VAR_DIR" in env:
                assert env["PORTAL_VAR_DIR"]["value"] in mounts  # writable under a read-only image layer


def launch_env(docs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The literal PORTAL_LAUNCH_* values of every portal container (web, worker, migrations)."""
    out = []
    for spec in pod_specs(docs):
        for container in spec["containers"]:
            env = env_of(container)
            if "PORTAL_BASE_URL" in env:
                out.append({k: e["value"] for k, e in env.items() if k.startswith("PORTAL_LAUNCH_") and "value" in e})
    return out


def test_the_builder_and_its_registry_reach_every_portal_process_and_the_hub(loaded: Any, tmp_path: Path) -> None:
    """repo2docker (the default): the portal builds against the Docker API at launch.dockerUrl and pushes to
    launch.registry; the images it sends are the ones the hub's spawn hook accepts."""
    values = {"launch": {"dockerUrl": "tcp://docker-api.builds:2375"}}
    envs = launch_env(render(loaded, values))
    assert len(envs) == 3  # web, worker, migrations
    hub = merged_values({})["jupyterhub"]["hub"]
    for env in envs:
        settings = load_settings(environ={**env, "PORTAL_SECRET_KEY": "x"})
        assert settings.launch_builder == "repo2docker"
        builder = Repo2DockerBuilder.from_settings(settings)
        assert isinstance(builder, Repo2DockerBuilder)
        assert builder.docker_url == "tcp://docker-api.builds:2375"
        assert builder.registry == hub["extraEnv"]["PORTAL_LAUNCH_REGISTRY"]
        assert builder.image_ref("k1").startswith(builder.registry + "/portal-env:")
        assert "PORTAL_LAUNCH_IMAGES_DIR" not in env  # the podman builder's options only with it
    # without a Docker API URL the variable is left out: the pod's DOCKER_HOST (or a launch saying what is missing)
    assert all("PORTAL_LAUNCH_DOCKER_URL" not in env for env in launch_env(render(loaded, {})))


def test_the_podman_builder_gets_its_store_and_network_with_an_external_hub(loaded: Any) -> None:
    values = {
        "jupyterhub": {"enabled": False},
        "launch": {
            "builder": "podman",
            "hubUrl": "http://hub.internal:8000",
            "podman": {"imagesDir": "/srv/images", "buildNetwork": "ns:/proc/1/ns/net"},
        },
    }
    for env in launch_env(render(loaded, values)):
        settings = load_settings(environ={**env, "PORTAL_SECRET_KEY": "x"})
        builder = PodmanBuilder.from_settings(settings)
        assert (builder.podman.root_dir, builder.network) == (Path("/srv/images"), "ns:/proc/1/ns/net")
        assert settings.launch_hub_url == "http://hub.internal:8000"


def test_a_registry_the_hub_does_not_run_is_refused_naming_both_values(loaded: Any) -> None:
    from helm_python.errors import HelmError

    with pytest.raises(HelmError) as err:
        render(loaded, {"launch": {"registry": "other.example.org/envs"}})
    assert "launch.registry" in str(err.value) and "jupyterhub.hub.extraEnv.PORTAL_LAUNCH_REGISTRY" in str(err.value)
    # both changed together render
    hub_env = {"PORTAL_LAUNCH_REGISTRY": "other.example.org/envs"}
    both = {"launch": {"registry": "other.example.org/envs"}, "jupyterhub": {"hub": {"extraEnv": hub_env}}}
    docs = render(loaded, both)
    assert {env["PORTAL_LAUNCH_REGISTRY"] for env in launch_env(docs)} == {"other.example.org/envs"}


def _pyproject() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((CHART.parents[1] / "pyproject.toml").read_text())


def test_the_gateway_admits_the_portal_with_the_shared_password_and_sessions_with_hub_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dask-gateway authenticator the chart configures, run with the real dask-gateway-server classes."""
    import asyncio
    import base64
    import concurrent.futures

    pytest.importorskip("dask_gateway_server")
    from aiohttp import web
    from dask_gateway_server.auth import JupyterHubAuthenticator

    gateway = merged_values({})["dask-gateway"]["gateway"]
    c = SimpleNamespace(DaskGateway=SimpleNamespace())
    exec(gateway["extraConfig"]["portal-auth"], {"c": c})  # noqa: S102 - the chart's own gateway config
    authenticator_class = c.DaskGateway.authenticator_class
    assert issubclass(authenticator_class, JupyterHubAuthenticator)
    monkeypatch.setenv("PORTAL_GATEWAY_PASSWORD", "s3cret")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "unused")
    auth = authenticator_class()

    def basic(user: str, password: str) -> Any:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return SimpleNamespace(headers={"Authorization": f"Basic {token}"})

    def run(coroutine: Any) -> Any:
        # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    assert run(auth.authenticate(basic("alice", "s3cret"))).name == "alice"
    for user, password in (("alice", "wrong"), ("alice", ""), ("", "s3cret")):
        with pytest.raises(web.HTTPUnauthorized):
            run(auth.authenticate(basic(user, password)))
