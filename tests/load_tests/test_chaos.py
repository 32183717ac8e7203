"""The chaos runs (load_tests/chaos.py), small: real workers on the session's broker, a real phone inbox,
the machine's PostgreSQL behind a proxy we cut. Each must meet its goals, so the chaos code keeps working
(`make chaos` runs them full size: 500 activations and three kills, a 60 s inbox outage, a 60 s database
outage)."""

from __future__ import annotations

import json

import pytest

from load_tests.chaos import run_db, run_inbox, run_kill

pytestmark = pytest.mark.integration


def _explain(result: dict) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "messages"} | {"messages": result.get("messages")}, indent=1, default=str)[:4000]


async def test_a_killed_worker_loses_no_alert_and_sends_none_twice(kafka_bootstrap, tmp_path, deployment) -> None:
    result = await run_kill(kafka_bootstrap, tmp_path, activations=30, kills=1, rate=5.0, seed=3, settle_s=90.0, deployment=deployment,
                            out=lambda _: None)
    assert result["ok"], _explain(result)
    alerts = result["alerts"]
    # every predicted alert once, but a copy a kill cut between the gateway's post and its record (at most one per kill)
    assert alerts["received"] == alerts["predicted"] + alerts["killed_mid_send"] and alerts["predicted"] >= 45
    assert alerts["killed_mid_send"] <= len(result["kills"])
    assert [k["worker"] for k in result["kills"]] and result["kills"][0]["ready_again_s"] > 0


async def test_an_inbox_outage_delays_alerts_until_it_ends_and_escalations_stay_on_time(kafka_bootstrap, tmp_path, deployment) -> None:
    result = await run_inbox(kafka_bootstrap, tmp_path, outage_s=5.0, deployment=deployment, out=lambda _: None)
    assert result["ok"], _explain(result)
    verdicts = [row["verdict"] for row in result["messages"]]
    assert "delivered after recovery" in verdicts and "on time" in verdicts
    assert result["refused_posts"] >= 3  # the notifier's own retries, then at least one redelivery, were refused


async def test_a_database_outage_leaves_alerts_alone_and_the_store_catches_up(kafka_bootstrap, tmp_path, deployment) -> None:
    result = await run_db(kafka_bootstrap, tmp_path, activations=30, rate=5.0, cut_after_s=2.0, cut_for_s=5.0, settle_s=90.0, deployment=deployment,
                          out=lambda _: None)
    assert result["ok"], _explain(result)
    assert result["store_failures_logged"] > 0 and result["latency_during"]["n"] > 0
    assert result["stored_rows"] == result["timeline_on_topic"]["distinct"]
