"""The ``vigil`` command line: every command has --help; missing broker is a clear error."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stream.cli.main import app

COMMANDS = ["broker", "worker", "inbox", "produce", "demo", "hl7-listen", "parse", "ingest-http", "web", "users", "topics", "roster", "standdown", "tokens"]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_installed_entry_point_lists_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "stream.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_worker_without_a_broker_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("version: 1\n")
    result = CliRunner().invoke(app, ["worker", "--contacts", str(contacts)])
    assert result.exit_code == 2
    assert "no broker: pass --bootstrap or set KAFKA_BOOTSTRAP" in result.output


def test_worker_without_an_ack_secret_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("VIGIL_ACK_SECRET", raising=False)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("version: 1\n")
    result = CliRunner().invoke(app, ["worker", "--bootstrap", "127.0.0.1:1", "--contacts", str(contacts)])
    assert result.exit_code == 2
    assert ("vigil worker: VIGIL_ACK_SECRET must be set to at least 16 bytes (the key that signs alert ack links; "
            "`vigil web` needs the same one)") in result.output


def test_worker_refuses_a_short_ack_secret(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VIGIL_ACK_SECRET", "too-short")
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("version: 1\n")
    result = CliRunner().invoke(app, ["worker", "--bootstrap", "127.0.0.1:1", "--contacts", str(contacts)])
    assert result.exit_code == 2
    assert "VIGIL_ACK_SECRET must be set to at least 16 bytes" in result.output


def test_logging_survives_a_replaced_stderr(capsys) -> None:
    import structlog

    CliRunner().invoke(app, ["--log-level", "info", "inbox", "--help"])  # configures logging under a temporary stderr
    structlog.get_logger("t").info("after.runner", n=1)
    assert '"event": "after.runner"' in capsys.readouterr().err


def test_ingest_http_refuses_to_run_open(monkeypatch) -> None:
    monkeypatch.delenv("VIGIL_INGEST_TOKENS", raising=False)
    result = CliRunner().invoke(app, ["ingest-http", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert "no ingest tokens: set VIGIL_INGEST_TOKENS to one or more comma-separated tokens" in result.output
