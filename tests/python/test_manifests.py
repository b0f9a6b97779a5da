"""deploy/kubernetes/: every manifest linted (yamllint) and validated against the Kubernetes
schemas (kubernetes-validate, strict: unknown fields fail), the KServe ones against the part of
KServe's CRD schemas they use (tests/tools/kserve-schemas.json); and what the schemas cannot say:
the grace period covers the drain, probes follow SERVING.md, selectors and targets agree, and every
flag given is one `chori-torch serve` knows. The validators live in the test-only venv that
`make test` builds ($(TOOLS) in the Makefile)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from containers import ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"
TOOLS = ROOT / ".venv-tools" / "bin"
KUBERNETES_VERSION = "1.33.0"
KSERVE_VALIDATOR = ROOT / "tests" / "tools" / "validate-kserve.py"


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: `make test` installs the validators (.venv-tools/.installed)"
        )
    return str(path)


def manifests() -> list[Path]:
    return sorted(MANIFESTS.rglob("*.yaml"))


def is_kserve(path: Path) -> bool:
    return "kserve" in path.relative_to(MANIFESTS).parts


def load(path: Path) -> dict:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert len(docs) == 1, f"{path}: one object per file"
    return docs[0]


def by_kind(kind: str) -> list[dict]:
    return [doc for doc in map(load, manifests()) if doc["kind"] == kind]


def kubernetes_validate(*files: Path) -> subprocess.CompletedProcess[str]:
    args = [tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *map(str, files)]
    return subprocess.run(args, capture_output=True, text=True)


def kserve_validate(*files: Path) -> subprocess.CompletedProcess[str]:
    args = [tool("python"), str(KSERVE_VALIDATOR), KUBERNETES_VERSION, *map(str, files)]
    return subprocess.run(args, capture_output=True, text=True)


def mutated(tmp_path: Path, source: Path, change: Callable[[dict], object]) -> Path:
    doc = load(source)
    change(doc)
    out = tmp_path / source.name
    out.write_text(yaml.safe_dump(doc))
    return out


def serve_flags() -> set[str]:
    script = (
        "const { SPEC } = require('./js/server/options');"
        "console.log(JSON.stringify(SPEC.map((s) => s.flag ?? "
        "s.key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()))))"
    )
    out = subprocess.run(
        ["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_every_kind_is_there_one_per_file() -> None:
    kinds = sorted(load(p)["kind"] for p in manifests())
    core = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "HorizontalPodAutoscaler"]
    kserve = ["InferenceService", "ServingRuntime"]
    assert kinds == sorted([*core, "PodDisruptionBudget", "Service", *kserve])


def test_yamllint_passes() -> None:
    config = MANIFESTS / ".yamllint"
    r = subprocess.run(
        [tool("yamllint"), "-s", "-c", str(config), str(MANIFESTS)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_kubernetes_objects_match_the_kubernetes_schemas() -> None:
    files = [p for p in manifests() if not is_kserve(p)]
    r = kubernetes_validate(*files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed") == len(files), r.stdout


def test_kubernetes_validate_catches_a_typo_and_a_wrong_type(tmp_path: Path) -> None:
    deployment = MANIFESTS / "deployment.yaml"
    typo = mutated(tmp_path, deployment, lambda d: d["spec"].update(replica=3))
    assert kubernetes_validate(typo).returncode != 0
    wrong = mutated(tmp_path, deployment, lambda d: d["spec"].update(replicas="three"))
    assert kubernetes_validate(wrong).returncode != 0


def test_the_kserve_objects_match_kserves_schemas() -> None:
    files = [p for p in manifests() if is_kserve(p)]
    assert len(files) == 2
    r = kserve_validate(*files)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_kserve_schemas_catch_errors(tmp_path: Path) -> None:
    runtime = MANIFESTS / "kserve" / "servingruntime.yaml"
    bad_protocol = mutated(tmp_path, runtime, lambda d: d["spec"].update(protocolVersions=["v3"]))
    r = kserve_validate(bad_protocol)
    assert r.returncode == 1 and "protocolVersions" in r.stdout, r.stdout + r.stderr

    def bad_container(d: dict) -> None:  # a Kubernetes type inside a KServe one: strict too
        d["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True

    r = kserve_validate(mutated(tmp_path, runtime, bad_container))
    assert r.returncode == 1 and "runAsNonroot" in r.stdout, r.stdout + r.stderr
    service = MANIFESTS / "kserve" / "inferenceservice.yaml"
    no_format = mutated(
        tmp_path, service, lambda d: d["spec"]["predictor"]["model"].pop("modelFormat")
    )
    assert kserve_validate(no_format).returncode == 1


def flag_values(args: list[str]) -> dict[str, str]:
    return dict(re.fullmatch(r"--([a-z0-9-]+)=(.*)", a).groups() for a in args)  # type: ignore[union-attr]


def test_every_flag_given_is_a_serve_flag() -> None:
    known = serve_flags()
    [deployment] = by_kind("Deployment")
    [runtime] = by_kind("ServingRuntime")
    pod_args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    for args in (pod_args, runtime["spec"]["containers"][0]["args"]):
        assert set(flag_values(args)) <= known


def test_the_grace_period_outlasts_the_drain() -> None:
    [deployment] = by_kind("Deployment")
    [runtime] = by_kind("ServingRuntime")
    [service] = by_kind("InferenceService")
    pod = deployment["spec"]["template"]["spec"]
    pairs = [
        (pod["containers"][0]["args"], pod["terminationGracePeriodSeconds"]),
        (
            runtime["spec"]["containers"][0]["args"],
            service["spec"]["predictor"]["terminationGracePeriodSeconds"],
        ),
    ]
    for args, grace in pairs:
        flags = flag_values(args)
        drain_s = (int(flags["drain-delay-ms"]) + int(flags["shutdown-timeout-ms"])) / 1000
        assert grace >= drain_s + 5, (grace, drain_s)


def test_probes_security_and_resources_as_documented() -> None:
    [deployment] = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    [runtime] = by_kind("ServingRuntime")
    rsc = runtime["spec"]["containers"][0]["securityContext"]
    assert rsc["runAsNonRoot"] is True and rsc["capabilities"]["drop"] == ["ALL"]


def test_selectors_and_targets_agree() -> None:
    [deployment] = by_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    [service] = by_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    [pdb] = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for hpa in by_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    [service] = by_kind("InferenceService")
    [runtime] = by_kind("ServingRuntime")
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["modelFormat"]["name"] in formats
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]


def test_the_queue_metric_the_autoscaler_reads_is_one_the_server_exports() -> None:
    queue_hpa = [
        h for h in by_kind("HorizontalPodAutoscaler") if h["spec"]["metrics"][0]["type"] == "Pods"
    ]
    [hpa] = queue_hpa
    name = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    metrics = (ROOT / "js" / "server" / "core" / "metrics.js").read_text()
    assert f"name: '{name}'" in metrics
    [config_map] = by_kind("ConfigMap")
    rules = yaml.safe_load(config_map["data"]["config.yaml"])["rules"]
    assert any(r["name"]["as"] == name for r in rules)
