"""Protocol files: validation at load, and routing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rules.protocols import load_protocols
from stream.deployment import DeploymentPaths

PROTOCOLS = DeploymentPaths.bundled().protocols


def test_bundled_protocols_load_with_a_content_hash() -> None:
    loaded = load_protocols(PROTOCOLS)
    assert [p.id for p in loaded.spec.protocols] == ["P1", "P2", "P3", "P3-unintentional"]
    assert loaded.version.startswith("proto-") and loaded.version == load_protocols(PROTOCOLS).version


def test_repeated_protocol_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "protocols.yaml"
    path.write_text(PROTOCOLS.read_text().replace("id: P1", "id: P2"))
    with pytest.raises(ValueError) as info:
        load_protocols(path)
    assert str(info.value) == f"{path}: protocol ids must be unique, repeated: P2"


def test_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "protocols.yaml"
    path.write_text(PROTOCOLS.read_text().replace("America/Chicago", "America/Minneapolis"))
    with pytest.raises(ValidationError, match="unknown time zone 'America/Minneapolis'"):
        load_protocols(path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "protocols.yaml"
    path.write_text(PROTOCOLS.read_text().replace("ack_within_minutes: 10", "ack_within_minuts: 10"))
    with pytest.raises(ValidationError, match="ack_within_minuts"):
        load_protocols(path)
