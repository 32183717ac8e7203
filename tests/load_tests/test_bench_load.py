"""The load runs' parts on real parts: generated CAD and HL7 through the broker to a real worker, the alerts
checked one by one against the replay; and the pure helpers of the benchmark."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from load_tests.bench_load import (
    alerts_ok,
    compare,
    core_inputs,
    decided_intents,
    load_pipeline,
    predict,
    rate_window,
    received_alerts,
)
from load_tests.generator import BrokerSender, feed
from stream.core.replay import hl7_key


def test_rate_window_counts_from_the_first_batch_counted_to_the_last():
    # a batch is counted once handled: the first count comes after its reading, so it starts the window
    samples = [(0.0, 0), (1.0, 0), (2.0, 500), (3.0, 1500), (4.0, 2000)]
    assert rate_window(samples, 2000) == {"seconds": 2.0, "events_per_s": 750.0, "first_read_s": 2.0, "all_read_s": 4.0}
    assert rate_window(samples[:4], 2000) is None  # never read them all
    # all of them in one sample: from the sample before it
    assert rate_window([(0.0, 0), (0.5, 0), (1.0, 2000)], 2000) == {"seconds": 0.5, "events_per_s": 4000.0, "first_read_s": 1.0,
                                                                     "all_read_s": 1.0}


def test_compare_names_what_is_missing_extra_and_held():
    predicted = {"i1": ("a1", "t1"), "i2": ("a1", "dns"), "i3": ("a2", "dns"), "i4": ("a2", "dns")}
    good = compare(predicted, set(predicted), Counter({("a1", "t1"): 1, ("a1", "dns"): 1, ("a2", "dns"): 1}))
    assert good["held_by_rate_limit"] == 1 and alerts_ok(good)
    missing_team = compare(predicted, set(predicted), Counter({("a1", "t1"): 1, ("a2", "dns"): 2}))
    assert missing_team["teams_not_reached"] == 1 and not alerts_ok(missing_team)
    duplicate = compare(predicted, set(predicted), Counter({("a1", "t1"): 2, ("a1", "dns"): 1, ("a2", "dns"): 2}))
    assert duplicate["received_extra"] == 1 and not alerts_ok(duplicate)
    undecided = compare(predicted, {"i1", "i2", "i3"}, Counter({("a1", "t1"): 1, ("a1", "dns"): 1, ("a2", "dns"): 2}))
    assert undecided["decided_missing"] == 1 and not alerts_ok(undecided)


@pytest.mark.integration
async def test_generated_evening_through_a_real_worker_alerts_as_replay_predicts(kafka_bootstrap, deployment, tmp_path):
    # A summer Friday night (the feed's busiest kind): a few hundred CAD documents, a dozen shootings,
    # with their re-sends, upgrades and hospital arrivals.
    items = [i for i in feed(2025, 7, date(2025, 8, 15), date(2025, 8, 17))
             if datetime(2025, 8, 15, 18, tzinfo=i.at.tzinfo) <= i.at < datetime(2025, 8, 16, 2, tzinfo=i.at.tzinfo)]
    assert 300 <= len(items) <= 1000
    assert any(i.what == "arrival" for i in items) and any(i.what == "resend" for i in items)
    until = items[-1].at + timedelta(hours=2)
    predicted = predict(items, deployment, until)
    assert len(core_inputs(items)) >= 10 and len(predicted) >= 10

    async with load_pipeline(kafka_bootstrap, tmp_path, deployment, "gen") as pipeline:
        await pipeline.start_worker()
        async with BrokerSender(kafka_bootstrap, pipeline.topics, deployment, hl7_key(), stream_time=True, single_partition=True) as sender:
            report = await sender.send(items, rate=2000)
            await sender.tick(until)
            await sender.wait_for_core(idle_s=30)
        assert report.cad == sum(i.source == "eido" for i in items)
        assert report.arrivals == sum(i.what == "arrival" for i in items)
        assert await pipeline.wait_for_alerts(len(Counter(predicted.values())), idle_s=30)  # and waits for a duplicate
        check = compare(predicted, await decided_intents(kafka_bootstrap, pipeline.topics.intents),
                        received_alerts(pipeline.inbox.messages))
    assert alerts_ok(check), check
    # the arrivals joined their shootings: some alert went to a hospital team
    assert any(team.startswith("nextstep-") for _, team in predicted.values())
