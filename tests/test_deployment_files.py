"""The image and compose files say what the README promises (no Docker engine here: checked statically)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path


def test_compose_runs_the_provider_on_postgres_and_redis_with_healthchecks() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"identity", "postgres", "redis"}
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]
    env = services["identity"]["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["REDIS_URL"].startswith("redis://")
    assert services["identity"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_no_key_material_is_tracked_under_keys() -> None:
    tracked = {p.name for p in (ROOT / "keys").iterdir()} & {".gitignore", "README.md"}
    assert tracked == {".gitignore", "README.md"}
    assert "*" in (ROOT / "keys" / ".gitignore").read_text().split()


def test_kubernetes_manifests_have_probes_budget_and_autoscaling() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "identity.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) >= {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert kinds["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["IDENTITY_ENVIRONMENT"] == "production" and env["IDENTITY_SEED_DEMO"] == "false"
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] >= 2


def test_replica_compose_puts_a_proxy_in_front_of_shared_state() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.replicas.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"identity", "postgres", "redis", "proxy"}
    assert "ports" not in services["identity"]  # only the proxy is published, so replicas can scale
    assert services["identity"]["environment"]["IDENTITY_PAIRWISE_SALT"]
    assert "proxy_next_upstream error" in (ROOT / "deploy" / "nginx.conf").read_text()
