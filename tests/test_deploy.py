"""deploy/: the Kubernetes manifests validate offline against the schemas kubernetes-validate bundles,
and the Compose file and the manifests name commands, flags and ports that the code accepts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bff.config import parse_args as gateway_args
from bff.worker import parse_args as worker_args
from inference_server.config import parse_config as server_args

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"  # the oldest version still maintained when these were written
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def containers(kind: str | None = None) -> list[dict]:
    found = []
    for doc in documents():
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        if spec and (kind is None or doc["metadata"]["name"] == kind):
            found += spec["containers"]
    return found


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize("document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_kubernetes(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_catches_a_broken_manifest():
    broken = yaml.safe_load((DEPLOY / "kubernetes" / "worker.yaml").read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def parsed(command: list[str], registry: Path):
    """Runs the real flag parser of the process a command starts; raises SystemExit on a bad flag."""
    program, args = command[0], command[1:]
    assert program in SCRIPTS, f"{program} is not a console script of this project"
    if program == "tessera-server":
        return server_args([str(registry) if a == "/registry" else a for a in args])
    return {"tessera-gateway": gateway_args, "tessera-worker": worker_args}[program](args)


def tessera_commands() -> list[tuple[str, list[str]]]:
    found = [(f"compose:{name}", service["command"]) for name, service in compose()["services"].items()
             if service["command"][0].startswith("tessera-")]
    found += [(f"k8s:{c['name']}", c["command"]) for c in containers() if c["command"][0].startswith("tessera-")]
    return found


@pytest.mark.parametrize("where, command", tessera_commands(), ids=[w for w, _ in tessera_commands()])
def test_every_command_parses_with_the_code(where, command, tmp_path):
    config = parsed(command, tmp_path)
    if command[0] != "tessera-server":
        assert config.job_store.startswith("redis://")  # several replicas need the shared store


def test_compose_ports_agree_with_the_commands(tmp_path):
    services = compose()["services"]
    server = parsed(services["inference"]["command"], tmp_path)
    gateway = parsed(services["gateway"]["command"], tmp_path)
    worker = parsed(services["worker"]["command"], tmp_path)
    assert gateway.servers == worker.servers == (f"dns:///inference:{server.port}",)
    assert services["gateway"]["ports"][0].endswith(f":{gateway.port}")
    assert f"127.0.0.1:{server.port}" in services["inference"]["healthcheck"]["test"][-1]
    assert f"127.0.0.1:{gateway.port}/healthz" in services["gateway"]["healthcheck"]["test"][-1]
    assert gateway.job_store == worker.job_store == "redis://redis:6379/0"
    assert "--appendonly" in services["redis"]["command"] and "redis-data:/data" in services["redis"]["volumes"]
    assert services["inference"]["volumes"] == ["../model_registry:/registry:ro"]


def test_kubernetes_ports_probes_and_volumes_agree_with_the_commands(tmp_path):
    (inference,), (gateway,), (worker,) = (containers(f"tessera-{n}") for n in ("inference", "gateway", "worker"))
    server = parsed(inference["command"], tmp_path)
    ports = {p["name"]: p["containerPort"] for p in inference["ports"]}
    assert ports == {"grpc": server.port, "metrics": server.metrics_port}
    assert inference["readinessProbe"]["grpc"]["port"] == server.port
    assert inference["volumeMounts"] == [{"name": "registry", "mountPath": "/registry", "readOnly": True}]
    services = {d["metadata"]["name"]: d["spec"] for d in documents() if d["kind"] == "Service"}
    assert services["tessera-inference"]["clusterIP"] == "None"  # headless: DNS lists every pod
    web = parsed(gateway["command"], tmp_path)
    assert gateway["ports"] == [{"name": "http", "containerPort": web.port}]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert web.servers == parsed(worker["command"], tmp_path).servers == (
        f"dns:///tessera-inference:{services['tessera-inference']['ports'][0]['port']}",)
    redis_port = services["tessera-redis"]["ports"][0]["port"]
    assert web.job_store == f"redis://tessera-redis:{redis_port}/0"
