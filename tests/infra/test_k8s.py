"""The Kubernetes manifests (infra/k8s/): the kinds and names each role needs, every ConfigMap and
Secret a pod refers to defined (with the key it reads), real `vigil` commands and options, selectors
that select, and the planner files mounted where the image's package keeps them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.core.deployment import PACKAGE_ROOT, DeploymentPaths
from tests.infra.infra_support import INFRA, K8S, ROOT, check_vigil_command, yaml_docs

SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages"  # python:3.11-slim (infra/Dockerfile)


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def manifests() -> list[dict[str, Any]]:
    """The kustomization's resources, its generated ConfigMaps, and the Secrets of secrets.example.yaml."""
    docs = [doc for name in kustomization()["resources"] for doc in yaml_docs(K8S / name)]
    for generated in kustomization()["configMapGenerator"]:
        data = {}
        for entry in generated["files"]:
            key, _, source = entry.partition("=")
            data[key] = (K8S / source).read_text()
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generated["name"]}, "data": data})
    docs += list(yaml_docs(K8S / "secrets.example.yaml"))
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def workloads() -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] in {"Deployment", "StatefulSet", "Job"}]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(w["metadata"]["name"], w["spec"]["template"]["spec"]) for w in workloads()]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def test_every_yaml_file_loads_and_is_used() -> None:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert files == set(kustomization()["resources"]) | {"secrets.example.yaml"}
    for path in K8S.glob("*.yaml"):
        assert list(yaml_docs(path)), path.name


def test_the_roles_are_all_there() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in manifests()}
    expected = {
        ("Namespace", "vigil"),
        ("ConfigMap", "vigil-settings"), ("ConfigMap", "vigil-protocols"), ("ConfigMap", "vigil-coverage"),
        ("Secret", "vigil-ack-secret"), ("Secret", "vigil-hl7-secret"), ("Secret", "vigil-db-url"),
        ("Secret", "vigil-contacts"), ("Secret", "vigil-ingest-tokens"),
        ("StatefulSet", "vigil-worker"), ("Service", "vigil-worker"), ("PodDisruptionBudget", "vigil-worker"),
        ("Deployment", "vigil-web"), ("Service", "vigil-web"),
        ("Deployment", "vigil-hl7-listener"), ("Service", "vigil-hl7-listener"),
        ("Deployment", "vigil-ingest-http"), ("Service", "vigil-ingest-http"),
        ("Job", "vigil-create-topics"),
    }
    assert expected <= kinds, sorted(expected - kinds)
    assert kustomization()["namespace"] == "vigil"
    assert all(d["metadata"].get("namespace", "vigil") == "vigil" for d in manifests())


def test_every_referenced_configmap_and_secret_exists_with_its_key() -> None:
    configmaps, secrets = by_kind("ConfigMap"), by_kind("Secret")

    def keys(kind: str, name: str) -> set[str]:
        table = configmaps if kind == "ConfigMap" else secrets
        assert name in table, f"{kind} {name} is referenced but not defined"
        doc = table[name]
        return set(doc.get("data", {})) | set(doc.get("stringData", {}))

    for workload, spec in pod_specs():
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                keys("ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                keys("Secret", volume["secret"]["secretName"])
        for container in containers(spec):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    keys("ConfigMap", source["configMapRef"]["name"])
                if "secretRef" in source:
                    keys("Secret", source["secretRef"]["name"])
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["key"] in keys("ConfigMap", ref["configMapKeyRef"]["name"]), (workload, env)
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["key"] in keys("Secret", ref["secretKeyRef"]["name"]), (workload, env)
            mounted = {v["name"] for v in spec.get("volumes", [])} | {t["metadata"]["name"] for t in
                                                                     _claims(workload)}
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in mounted, (workload, mount)
                volume = next((v for v in spec.get("volumes", []) if v["name"] == mount["name"]), None)
                if volume and "subPath" in mount and "configMap" in volume:
                    assert mount["subPath"] in keys("ConfigMap", volume["configMap"]["name"]), (workload, mount)


def _claims(workload: str) -> list[dict[str, Any]]:
    return [t for w in workloads() if w["metadata"]["name"] == workload for t in w["spec"].get("volumeClaimTemplates", [])]


def test_vigil_containers_run_real_vigil_commands() -> None:
    seen = set()
    for workload, spec in pod_specs():
        for container in containers(spec):
            if container["image"] != "vigil":
                assert container["image"].startswith("apache/kafka:"), (workload, container["image"])
                continue
            argv = [re.sub(r"^\$\((\w+)\)$", "0", str(a)) for a in container["command"] + container.get("args", [])]
            problems = check_vigil_command(argv)
            assert not problems, problems
            seen.add(" ".join(argv[1:3]) if argv[1] in ("users", "topics") else argv[1])
    assert seen == {"worker", "web", "hl7-listen", "ingest-http", "users list", "topics apply"}
    assert {i["name"] for i in kustomization()["images"]} == {"vigil"}


def test_command_variables_are_defined() -> None:
    """$(VAR) in a command is expanded by Kubernetes from the container's environment."""
    settings = by_kind("ConfigMap")["vigil-settings"]["data"]
    for workload, spec in pod_specs():
        for container in containers(spec):
            env = {e["name"] for e in container.get("env", [])}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    env |= set(by_kind("ConfigMap")[source["configMapRef"]["name"]]["data"])
            for arg in container["command"] + container.get("args", []):
                for var in re.findall(r"\$\((\w+)\)", str(arg)):
                    assert var in env, (workload, container["name"], var)
    assert int(settings["VIGIL_PARTITIONS"]) >= 1


def test_workers_statefulset() -> None:
    statefulset = by_kind("StatefulSet")["vigil-worker"]
    spec = statefulset["spec"]
    partitions = int(by_kind("ConfigMap")["vigil-settings"]["data"]["VIGIL_PARTITIONS"])
    assert 2 <= spec["replicas"] <= partitions, "workers must not outnumber partitions"
    (claim,) = spec["volumeClaimTemplates"]
    pod = spec["template"]["spec"]
    (worker,) = pod["containers"]
    command = worker["command"]
    data_dir = command[command.index("--data-dir") + 1]
    assert {m["mountPath"]: m["name"] for m in worker["volumeMounts"]}[data_dir] == claim["metadata"]["name"]
    assert command[command.index("--partitions") + 1] == "$(VIGIL_PARTITIONS)"
    assert by_kind("ConfigMap")["vigil-settings"]["data"]["VIGIL_TABLE_STORE"] == "rocksdb://"
    assert by_kind("ConfigMap")["vigil-settings"]["data"]["VIGIL_METRICS_HOST"] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    # the probes judge the event loop's heartbeat (stream/ops/health.py): /metrics answers from a thread even when the loop is stuck
    for probe_kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        probe = worker[probe_kind]["httpGet"]
        assert probe["path"] == path and ports[probe["port"]] == int(command[command.index("--metrics-port") + 1]) == 9600
    ready = command[command.index("--ready-file") + 1]
    assert worker["startupProbe"]["exec"]["command"] == ["test", "-f", ready]
    assert not ready.startswith(data_dir), "a ready file on the volume would survive a restart"
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["securityContext"]["fsGroup"] == 10001
    env = {e["name"]: e for e in worker["env"]}
    contacts = Path(env["VIGIL_CONTACTS"]["value"])
    mount = next(m for m in worker["volumeMounts"] if m["mountPath"] == str(contacts.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert contacts.name in by_kind("Secret")[volume["secret"]["secretName"]]["stringData"]


def test_selectors_select() -> None:
    templates = {w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"] for w in workloads()}
    for workload in workloads():
        if workload["kind"] != "Job":
            assert workload["spec"]["selector"]["matchLabels"].items() <= templates[workload["metadata"]["name"]].items()
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(kind).items():
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            matched = [w for w, labels in templates.items() if selector.items() <= labels.items()]
            assert len(matched) == 1, f"{kind} {name} selects {matched}"
    for name, service in by_kind("Service").items():
        (workload,) = [w for w in workloads() if service["spec"]["selector"].items() <= templates[w["metadata"]["name"]].items()]
        names = {p.get("name") for c in workload["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, (name, port)
    statefulset = by_kind("StatefulSet")["vigil-worker"]
    assert by_kind("Service")[statefulset["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"


def test_planner_files_are_mounted_over_the_packaged_ones() -> None:
    """The ConfigMaps come from the repository's planner files and are mounted exactly where the image's
    package has them (so that they win over the packaged copies), in every Vigil pod."""
    bundled = DeploymentPaths.bundled()
    targets = {
        "vigil-protocols": f"{SITE_PACKAGES}/{bundled.protocols.relative_to(PACKAGE_ROOT)}",
        "vigil-coverage": f"{SITE_PACKAGES}/{bundled.teams.relative_to(PACKAGE_ROOT)}",
    }
    sources = {g["name"]: (K8S / g["files"][0].split("=")[1]).resolve() for g in kustomization()["configMapGenerator"]}
    assert sources == {"vigil-protocols": bundled.protocols.resolve(), "vigil-coverage": bundled.teams.resolve()}
    assert sources["vigil-protocols"] == ROOT / "rules/minneapolis/protocols.yaml"
    for workload, spec in pod_specs():
        volumes = {v["name"]: v.get("configMap", {}).get("name") for v in spec.get("volumes", [])}
        for container in containers(spec):
            if container["image"] != "vigil" or container["command"][:2] == ["vigil", "topics"]:
                continue  # `vigil topics` reads no planner file
            mounts = {volumes.get(m["name"]): m["mountPath"] for m in container.get("volumeMounts", [])}
            for configmap, path in targets.items():
                assert mounts.get(configmap) == path, (workload, container["name"], configmap)
    assert re.search(r"^FROM python:3\.11-slim$", (INFRA / "Dockerfile").read_text(), re.M)


def test_topics_job_matches_the_workers() -> None:
    """The Job runs `vigil topics apply` with the workers' settings (its options' environment variables), and the
    pods' init containers wait for a topic it makes."""
    from stream.ops.topics import Layout, Topics

    (job,) = by_kind("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["vigil", "topics", "apply"] and not container.get("args")
    settings = by_kind("ConfigMap")["vigil-settings"]["data"]
    assert [s["configMapRef"]["name"] for s in container["envFrom"]] == ["vigil-settings"]
    for variable in ("KAFKA_BOOTSTRAP", "VIGIL_TOPIC_PREFIX", "VIGIL_APP_ID", "VIGIL_PARTITIONS", "VIGIL_REPLICATION_FACTOR"):
        assert variable in settings, variable
    options = {o.name: o.envvar for o in _topics_apply_options()}
    assert {options["bootstrap"], options["topic_prefix"], options["app_id"], options["partitions"], options["replication"]} == {
        "KAFKA_BOOTSTRAP", "VIGIL_TOPIC_PREFIX", "VIGIL_APP_ID", "VIGIL_PARTITIONS", "VIGIL_REPLICATION_FACTOR"}
    made = Layout(Topics("${VIGIL_TOPIC_PREFIX}"), app_id="${VIGIL_APP_ID}").names()
    for workload, spec in pod_specs():
        for init in spec.get("initContainers", []):
            if init["name"] == "wait-for-topics":
                waited = re.search(r'--topic "([^"]+)"', init["args"][0]).group(1)
                assert waited in made, (workload, waited)


def _topics_apply_options() -> list:
    import typer.main

    from stream.cli.topics import topics_app

    command = typer.main.get_command(topics_app).commands["apply"]  # type: ignore[attr-defined]
    return [p for p in command.params if p.envvar]


def test_pod_disruption_budgets_keep_a_worker() -> None:
    pdb = by_kind("PodDisruptionBudget")["vigil-worker"]["spec"]
    replicas = by_kind("StatefulSet")["vigil-worker"]["spec"]["replicas"]
    assert pdb.get("maxUnavailable", replicas - pdb.get("minAvailable", 0)) < replicas


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_same_objects() -> None:
    out = subprocess.run(["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    built = {(d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"]) if d["kind"] == "ConfigMap" else d["metadata"]["name"])
             for d in yaml.safe_load_all(out.stdout) if d}
    ours = {(d["kind"], d["metadata"]["name"]) for d in manifests() if d["kind"] != "Secret"}
    assert built == ours
