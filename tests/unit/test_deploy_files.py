"""The deployment files are consistent with the code and each other (Docker cannot run here, so
the image is not built in tests: these check what can be checked without it), and the
Prometheus alert rules use metric names ordersync exposes (and pass promtool when installed)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import tempfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from prometheus_client import generate_latest

from sync.adapters.prometheus_metrics import RunMetrics, registry_for
from sync.config import load_settings
from sync.entrypoints.cli import cli
from sync.resources import example_config_text

REPO = Path(__file__).resolve().parents[2]
SECRET_NAMES = ("*.pem", "*.key", "*sa.json", "*service-account*", ".env", "*.env", "state", "state/*",
                "config/ordersync.toml", "*.db")  # fmt: skip


# ------------------------------------------------------------------------------------ Dockerfile
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    out = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore matching, as far as these patterns use it: a pattern names a path
    from the context root (a folder excludes what is inside), ``**/`` matches at any depth."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            tails = ["/".join(parts[i:]) for i in range(len(parts))]
            if any(fnmatch.fnmatch(tail, pattern[3:]) for tail in tails):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            return True
    return False


def test_dockerfile_slim_base_non_root_entrypoint() -> None:
    instructions = dockerfile_instructions()
    bases = [rest.split()[0] for kw, rest in instructions if kw == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.\d+-slim", b) for b in bases), bases
    stage = final_stage(instructions)
    users = [i for i, (kw, _) in enumerate(stage) if kw == "USER"]
    assert users, "the final stage must switch to a non-root user"
    user = stage[users[-1]][1].split(":")[0]
    assert user not in ("root", "0")
    installs = [i for i, (kw, rest) in enumerate(stage) if kw == "RUN" and "pip install" in rest]
    assert installs and users[-1] > max(installs)  # installed as root, run as the user
    entrypoint = next(rest for kw, rest in stage if kw == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["ordersync"]
    assert "init" in next(rest for kw, rest in stage[users[-1] :] if kw == "RUN")  # layout as the user


def test_dockerfile_copies_existing_sources_and_no_secrets() -> None:
    patterns = dockerignore()
    for keyword, rest in dockerfile_instructions():
        assert (
            not re.search(r"(TOKEN|PASSWORD|SECRET|CREDENTIALS|API_KEY)\s*=", rest, re.I) or keyword == "RUN"
        ), rest
        if keyword not in ("COPY", "ADD") or "--from=" in rest:
            continue
        assert keyword == "COPY", "ADD fetches URLs and unpacks archives: use COPY"
        *sources, _dest = rest.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
            assert not any(fnmatch.fnmatch(source, s) for s in SECRET_NAMES), f"COPY {source}: a secret"
    for must_stay_out in ("state", "reports", "config/ordersync.toml", "x/sa.json", "k.pem", ".env", ".git"):
        assert ignored(must_stay_out, patterns), f".dockerignore lets {must_stay_out} into the build"
    for needed in ("pyproject.toml", "README.md", "sync/resources/ordersync.example.toml"):
        assert not ignored(needed, patterns)


def dockerfile_uid() -> int:
    user = [rest for kw, rest in final_stage(dockerfile_instructions()) if kw == "USER"][-1]
    return int(user.split(":")[0])


def known_command(args: list[str]) -> str:
    """The sub-command these ordersync arguments run (global options skipped), checked to exist."""
    ctx = click.Context(cli)
    words = [a for a in args if not a.startswith("-") and a not in ("json", "text")]
    assert words and cli.get_command(ctx, words[0]) is not None, args
    return words[0]


# ------------------------------------------------------------------------------------- compose
def test_compose_runs_the_image_on_postgresql_for_a_local_trial(tmp_path: Path) -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "sandbox", "ordersync"} <= set(services)
    app = services["ordersync"]
    assert app["build"] == "." and (REPO / "Dockerfile").exists()
    ledger = app["environment"]["ORDERSYNC_LEDGER__URL"]
    assert ledger.startswith("postgresql+psycopg://") and "@postgres:" in ledger
    assert ":" not in ledger.split("://", 1)[1].split("@")[0]  # no password in the file
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
        env = service.get("environment") or {}
        assert not any("PASSWORD" in key and key != "POSTGRES_HOST_AUTH_METHOD" for key in env), name
    assert known_command(services["sandbox"]["command"]) == "sandbox"
    script = app["command"][0]
    for command in ("sandbox credentials", "testorders create", "testorders advance", "schedule"):
        assert command in script
    known_command(["schedule"])
    # The emulator endpoints and settings the trial overrides are real settings.
    env = {k: str(v) for k, v in app["environment"].items() if k.startswith("ORDERSYNC_")}
    # The image runs `ordersync init .`: the packaged example is the file those settings override.
    example = tmp_path / "ordersync.toml"
    example.write_text(example_config_text(), encoding="utf-8")
    load_settings(example, environ=env)


def test_compose_runs_a_fleet_on_postgresql_with_two_workers_and_a_scheduler() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    worker, scheduler, setup = services["worker"], services["scheduler"], services["fleet-setup"]
    assert worker["deploy"]["replicas"] == 2 and known_command(worker["command"]) == "worker"
    assert known_command(scheduler["command"]) == "schedule"
    for service in (worker, scheduler):
        assert service["depends_on"]["fleet-setup"]["condition"] == "service_completed_successfully"
    assert setup["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "testorders create" in setup["command"][0] and "sandbox credentials" in setup["command"][0]
    # The fleet's configuration is mounted where ORDERSYNC_CONFIG says, and is valid queue mode.
    config_path = worker["environment"]["ORDERSYNC_CONFIG"]
    (mount,) = [v for v in worker["volumes"] if isinstance(v, str) and v.endswith(f":{config_path}:ro")]
    settings = load_settings(REPO / mount.split(":")[0], environ={})
    assert settings.queue.enabled and len(settings.accounts) >= 2
    # Each ledger schema (and the queue's) is created by the init script the postgres service runs.
    init = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    created = (REPO / init[0].split(":")[0]).read_text(encoding="utf-8")
    for url in [settings.queue.url, *(a.ledger.url for a in settings.accounts)]:
        assert url.startswith("postgresql+psycopg://") and "@postgres:" in url
        schema = url.rsplit("search_path%3D", 1)[1]
        assert f"CREATE SCHEMA IF NOT EXISTS {schema} " in created, schema
    assert worker["stop_grace_period"]  # SIGTERM: time for the cycle in hand to reach its next step


# ---------------------------------------------------------------------------------- Kubernetes
def k8s(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((REPO / "deploy" / "kubernetes" / name).read_text("utf-8")) if d]


def test_kubernetes_cronjob_uses_the_image_a_secret_and_a_volume() -> None:
    (cronjob,) = k8s("cronjob.yaml")
    (secret,) = k8s("secret.example.yaml")
    (configmap,) = k8s("configmap.yaml")
    (pvc,) = k8s("pvc.yaml")
    assert cronjob["kind"] == "CronJob" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == dockerfile_uid()
    (container,) = pod["containers"]
    assert container["image"].endswith("/ordersync:" + tomllib.loads(
        (REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])  # fmt: skip
    assert known_command(container["args"]) == "run"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    assert secret["kind"] == "Secret"
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    example = (REPO / "deploy" / "kubernetes" / "secret.example.yaml").read_text(encoding="utf-8")
    for ref in refs:
        assert ref["name"] == secret["metadata"]["name"]
        # A key the job needs is in the example; an optional one at least documented there.
        assert ref["key"] in secret["stringData"] or (ref.get("optional") and f"# {ref['key']}:" in example)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    sa = volumes["google-sa"]["secret"]
    assert sa["secretName"] == secret["metadata"]["name"]
    assert all(item["key"] in secret["stringData"] for item in sa["items"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"].startswith(mounts["google-sa"] + "/")
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    assert env["ORDERSYNC_CONFIG"] == f"{mounts['config']}/ordersync.toml"
    assert mounts["state"] == container["workingDir"]

    settings = load_settings_from_text(configmap["data"]["ordersync.toml"])
    assert settings.google.sandbox is False and settings.metrics.pushgateway_url
    assert not settings.ledger.url.startswith("/")  # relative: on the volume in workingDir


def test_kubernetes_worker_deployment_scales_the_fleet_beside_an_enqueue_cronjob() -> None:
    deployment, reports_pvc = k8s("worker-deployment.yaml")
    (enqueue,) = k8s("enqueue-cronjob.yaml")
    (configmap,) = k8s("configmap-fleet.yaml")
    (secret,) = k8s("secret.example.yaml")
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    template = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"] == template["metadata"]["labels"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == dockerfile_uid()
    assert pod["terminationGracePeriodSeconds"] >= 60  # SIGTERM: the cycle in hand reaches its next step
    (container,) = pod["containers"]
    assert known_command(container["args"]) == "worker"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert enqueue["kind"] == "CronJob" and enqueue["spec"]["concurrencyPolicy"] == "Forbid"
    job_pod = enqueue["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (enqueuer,) = job_pod["containers"]
    assert known_command(enqueuer["args"]) == "enqueue" and "--all" in enqueuer["args"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == reports_pvc["metadata"]["name"]
    assert "ReadWriteMany" in reports_pvc["spec"]["accessModes"]  # every pod writes reports
    for spec, c in ((pod, container), (job_pod, enqueuer)):
        config = {v["name"]: v for v in spec["volumes"]}["config"]
        assert config["configMap"]["name"] == configmap["metadata"]["name"]
        for env in c["env"]:
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"], ref
    settings = load_settings_from_text(configmap["data"]["ordersync.toml"])
    assert settings.queue.enabled and len(settings.accounts) >= 2
    # Every account's Square token variable is set in the worker pods (from the Secret).
    env_names = {e["name"] for e in container["env"]}
    assert {a.square.access_token_env for a in settings.accounts if a.square.enabled} <= env_names
    assert "PGPASSWORD" in env_names and "PGPASSWORD" in {e["name"] for e in enqueuer["env"]}


def load_settings_from_text(text: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ordersync.toml"
        path.write_text(text, encoding="utf-8")
        return load_settings(path, environ={})


# ---------------------------------------------------------------------------------- Prometheus
RULES = REPO / "deploy" / "prometheus" / "ordersync-alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "ordersync-alerts.test.yml"


def exposed_metric_names() -> set[str]:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    sample = RunMetrics(
        finished_at=now, duration_seconds=1.0, succeeded=True, last_success_at=now,
        orders_by_stage={"new": 1}, breaks={("missing_in_oms", "critical"): 1},
        api_calls_total={("google", "content.orders.list"): 1},
    )  # fmt: skip
    text = generate_latest(registry_for(sample)).decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_alert_rules_name_only_metrics_ordersync_exposes() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 5
    used = {name for expr in exprs for name in re.findall(r"\bordersync_[a-z_]+", expr)}
    assert "ordersync_last_success_timestamp_seconds" in used
    assert used <= exposed_metric_names(), used - exposed_metric_names()


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/run installs Debian's prometheus)")
def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    subprocess.run([PROMTOOL, "check", "rules", str(RULES)], check=True, capture_output=True, timeout=60)
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # And the exposition itself passes promtool's lint (names, units, help texts).
    now = datetime(2026, 11, 20, tzinfo=UTC)
    text = generate_latest(registry_for(RunMetrics(finished_at=now, duration_seconds=1.0, succeeded=True,
                                                   last_success_at=now))).decode()  # fmt: skip
    lint = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
