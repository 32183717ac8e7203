"""The Grafana dashboard and its provisioning: valid JSON, unique panel ids, a layout that does not
overlap, and queries that read only the metrics contract and the recording rules."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.infra.infra_support import COMPOSE_FILE, DASHBOARD, INFRA, allowed, metric_names, recorded_names


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found += panel.get("panels", [])  # a collapsed row keeps its panels inside
    return found


def test_dashboard_parses_and_is_identified() -> None:
    board = dashboard()
    assert board["uid"] == "vigil-overview" and board["title"]
    assert board["panels"]


def test_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels():
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def test_queries_read_only_the_contract_and_recording_rules() -> None:
    recorded = recorded_names()
    exprs = [(p["title"], t["expr"]) for p in panels() for t in p.get("targets", [])]
    exprs += [(a["name"], a["expr"]) for a in dashboard()["annotations"]["list"] if "expr" in a]
    assert exprs
    bad = [(title, name) for title, expr in exprs for name in metric_names(expr) if not allowed(name, recorded)]
    assert not bad, f"names neither in the metrics contract nor recording rules: {bad}"


def test_every_graph_has_a_query_and_a_description() -> None:
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel.get("targets") and all(t.get("expr") for t in panel["targets"]), panel["title"]
        assert panel.get("description"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]


def test_top_row_answers_the_3am_questions() -> None:
    top = [p for p in panels() if p["gridPos"]["y"] == 0]
    assert all(p["type"] == "stat" for p in top)
    titles = " | ".join(p["title"].lower() for p in top)
    for words in ("delivered", "latency", "failed", "dead letters", "cad feed", "acks overdue", "workers up"):
        assert words in titles, f"no top-row stat for {words!r}: {titles}"
    rows = [p["title"] for p in panels() if p["type"] == "row"]
    assert [r.split(":")[0].split(" ")[0].lower() for r in rows] == ["feeds", "latency", "delivery", "escalations", "workers", "follow-ups"], rows


def test_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    datasources = yaml.safe_load((INFRA / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    assert [d["uid"] for d in datasources] == ["prometheus"]
    assert datasources[0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((INFRA / "grafana/provisioning/dashboards/vigil.yml").read_text())["providers"][0]
    grafana = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


def test_follow_ups_panel_shows_open_and_overdue_tasks_by_kind() -> None:
    """Issue 18: the open and overdue follow-ups by kind, from the recording rules the FollowupsOverdue alert reads."""
    [panel] = [p for p in panels() if p["title"] == "Follow-ups open and overdue, by kind"]
    assert {t["expr"] for t in panel["targets"]} == {"vigil:followups_open:by_kind", "vigil:followups_overdue:by_kind"}
    assert all("{{kind}}" in t["legendFormat"] for t in panel["targets"])
    flows = " ".join(t["expr"] for p in panels() for t in p.get("targets", []))
    assert "vigil_followups_created_total" in flows and "vigil_followups_completed_total" in flows
