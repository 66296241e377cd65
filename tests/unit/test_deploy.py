"""The deployment assets in deploy/: manifests against the Kubernetes (and KServe) schemas, alerting rules
with promtool, and the dashboard against the metrics the server really exports. No cluster needed."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSIONS = ("1.32.0", "1.37.0")  # the oldest supported here (preStop sleep is GA in 1.32) and the newest
HAS_VALIDATOR = importlib.util.find_spec("kubernetes_validate") is not None
PROMTOOL = shutil.which("promtool")
needs_validator = pytest.mark.skipif(not HAS_VALIDATOR, reason="kubernetes-validate not installed (the dev extra)")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus; .ci/run does it)"
)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def k8s_manifests() -> list[Path]:
    return sorted((DEPLOY / "kubernetes").glob("*.yaml"))


def resource(kind: str) -> dict[str, Any]:
    return next(doc for path in k8s_manifests() for doc in documents(path) if doc["kind"] == kind)


@needs_validator
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_strictly(version: str):
    import kubernetes_validate

    kinds = set()
    for path in k8s_manifests():
        for doc in documents(path):
            kubernetes_validate.validate(doc, version, strict=True)
            kinds.add(doc["kind"])
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "CronJob", "PersistentVolumeClaim"} <= kinds


@needs_validator
def test_validator_catches_a_typo():
    import kubernetes_validate

    broken = copy.deepcopy(resource("Deployment"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def serve_routes() -> set[str]:
    source = (ROOT / "src" / "hsctl" / "serve" / "app.py").read_text(encoding="utf-8")
    return set(re.findall(r'"(/v2/health/(?:live|ready)|/metrics)"', source))


def env_setting_exists(name: str) -> bool:
    from hsctl.settings import Settings

    group, _, field = name.removeprefix("HSCTL_").lower().partition("__")
    model = Settings.model_fields.get(group)
    return model is not None and field in model.annotation.model_fields  # type: ignore[union-attr]


def test_deployment_matches_the_server():
    deployment = resource("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {"/v2/health/ready", "/v2/health/live", "/metrics"} <= serve_routes()
    # uvicorn's graceful shutdown (cli/serve.py) plus the preStop pause must fit in the grace period
    from hsctl.serve.launch import GRACEFUL_SHUTDOWN_S as drain

    assert pod["terminationGracePeriodSeconds"] >= drain + container["lifecycle"]["preStop"]["sleep"]["seconds"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HSCTL_SERVE__API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == resource("Secret")["metadata"]["name"]
    assert all(env_setting_exists(name) for name in env), [n for n in env if not env_setting_exists(n)]
    assert not env_setting_exists("HSCTL_SERVE__NO_SUCH_SETTING")
    assert container["resources"]["limits"]["cpu"] == env["HSCTL_SERVE__THREADS"]["value"]
    port = int(env["HSCTL_SERVE__PORT"]["value"])
    assert container["ports"][0]["containerPort"] == port
    claim = next(v for v in pod["volumes"] if v["name"] == "predictions")["persistentVolumeClaim"]["claimName"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["predictions"] == env["HSCTL_SERVE__LOG_URL"]["value"]
    assert claim in {d["metadata"]["name"] for d in documents(DEPLOY / "kubernetes" / "pvc.yaml")}
    assert resource("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert resource("Service")["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_drift_cronjob_runs_real_options():
    import typer.main

    from hsctl.cli.main import app

    job = resource("CronJob")["spec"]["jobTemplate"]["spec"]
    container = job["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[0] == "drift" and job["backoffLimit"] == 0  # exit 3 on drift fails the Job at once
    drift = typer.main.get_command(app).commands["drift"]  # type: ignore[attr-defined]
    known = {opt for param in drift.params for opt in param.opts}
    assert {a for a in args[1:] if a.startswith("--")} <= known
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert args[args.index("--current") + 1] in mounts


@needs_validator
def test_kserve_inference_service_validates():
    import jsonschema
    import kubernetes_validate
    from referencing import Registry, Resource

    defs_file = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.37.0-local-strict"
    definitions = json.loads((defs_file / "_definitions.json").read_text(encoding="utf-8"))
    schema = json.loads((DEPLOY / "kserve" / "inferenceservice.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource(
        "https://kubernetes.io/api/_definitions.json", Resource.from_contents(definitions)
    )
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    (service,) = documents(DEPLOY / "kserve" / "inferenceservice.yaml")
    validator.validate(service)
    container = service["spec"]["predictor"]["containers"][0]
    assert container["image"] == resource("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert all(env_setting_exists(name) for name in env)
    assert container["readinessProbe"]["httpGet"]["port"] == int(env["HSCTL_SERVE__PORT"])
    for mutate in (
        lambda s: s["spec"]["predictor"].update(minReplica=1),  # typo of minReplicas
        lambda s: s["spec"]["predictor"]["containers"][0].update(imagePullPolice="Always"),  # Kubernetes field typo
        lambda s: s["spec"]["predictor"]["containers"][0].update(name="hsctl"),  # KServe's container name
    ):
        broken = copy.deepcopy(service)
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)


def exported_metric_names() -> set[str]:
    """Every series name the server exports (counters get _total, histograms _bucket, _sum and _count)."""
    from hsctl.serve.metrics import ServerMetrics

    text = ServerMetrics().render()[0].decode()
    names = set()
    for kind_line in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M):
        name, kind = kind_line
        names |= {f"{name}_total"} if kind == "counter" else set()
        names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name}
    return names


def referenced_metrics(exprs: list[str]) -> set[str]:
    return {m for e in exprs for m in re.findall(r"\b(hsctl_[a-z_]+)\b", e)}


def test_dashboard_and_rules_use_exported_metrics():
    exported = exported_metric_names()
    assert {"hsctl_requests_total", "hsctl_request_duration_seconds_bucket", "hsctl_model_info"} <= exported
    dashboard = json.loads((DEPLOY / "grafana" / "hsctl-dashboard.json").read_text(encoding="utf-8"))
    dash_exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert dash_exprs and referenced_metrics(dash_exprs) <= exported, referenced_metrics(dash_exprs) - exported
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    rule_exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert referenced_metrics(rule_exprs) <= exported, referenced_metrics(rule_exprs) - exported
    # every endpoint the rules and the dashboard select on is a real prediction route
    from hsctl.serve.gateway import INFER, INFER_VERSIONED, PREDICT

    pattern = re.search(r'endpoint=~"([^"]+)"', rule_exprs[0])[1]  # type: ignore[index]
    assert all(re.fullmatch(pattern, route) for route in (PREDICT, INFER, INFER_VERSIONED))
    assert not re.fullmatch(pattern, "/v2/health/ready")


def alert_names() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    return {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests.yml").read_text(encoding="utf-8"))
    fired = {case["alertname"] for t in tests["tests"] for case in t.get("alert_rule_test", []) if case["exp_alerts"]}
    assert alert_names() <= fired
    expected = {"HsctlHighErrorRatio", "HsctlLatencyP99AboveSLO", "HsctlQueueSaturated", "HsctlSheddingLoad"}
    assert expected | {"HsctlPredictionLogDropping", "HsctlModelNotReady"} <= alert_names()


@needs_promtool
def test_promtool_checks_and_tests_the_rules(tmp_path: Path):
    assert PROMTOOL is not None
    check = subprocess.run(
        [PROMTOOL, "check", "rules", "rules.yml"], cwd=DEPLOY / "prometheus", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [PROMTOOL, "test", "rules", "tests.yml"], cwd=DEPLOY / "prometheus", capture_output=True, text=True
    )
    assert test.returncode == 0, test.stdout + test.stderr
    # the tests can fail: loosen one threshold and they must catch it
    shutil.copy(DEPLOY / "prometheus" / "tests.yml", tmp_path / "tests.yml")
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    (tmp_path / "rules.yml").write_text(rules.replace("hsctl:requests:rate5m > 0.01", "hsctl:requests:rate5m > 0.5"))
    broken = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert broken.returncode != 0 and "HsctlHighErrorRatio" in broken.stdout + broken.stderr


def test_the_estimated_performance_alert_reads_exported_gauges():
    exported = exported_metric_names()
    assert {"hsctl_estimated_macro_f1", "hsctl_estimated_predictions", "hsctl_estimated_hate_rate"} <= exported
    assert "HsctlEstimatedMacroF1Low" in alert_names()


@needs_promtool
def test_promtool_catches_a_loosened_performance_alert(tmp_path: Path):
    assert PROMTOOL is not None
    shutil.copy(DEPLOY / "prometheus" / "tests.yml", tmp_path / "tests.yml")
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    assert "(hsctl_estimated_macro_f1) < 0.75" in rules
    (tmp_path / "rules.yml").write_text(
        rules.replace("(hsctl_estimated_macro_f1) < 0.75", "(hsctl_estimated_macro_f1) < 0.5")
    )
    broken = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert broken.returncode != 0 and "HsctlEstimatedMacroF1Low" in broken.stdout + broken.stderr
