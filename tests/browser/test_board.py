"""The live board in a real Chromium, on the web app served for real (tests/reviews/web/board_served.py) over a
SQLite store the test appends timeline records to, as the review sink would: a new activation and an answer show
without a reload, a lead sees their own team's rows, DNS answers on a team's behalf and closes an activation,
the page says when its feed is stale, and rows stack on a phone.

``test_latency_from_a_stored_answer_to_the_row_changing`` measures the time from an answer's record being stored
to its row changing in the page (docs/benchmarks.md, "Live board"); VIGIL_BOARD_BENCH=FILE keeps the numbers as
JSON. The board's screenshots (board.png, board-phone.png) go where VIGIL_SCREENSHOTS says (`VIGIL_SCREENSHOTS=docs/screenshots`
refreshes the docs'), else to a temporary folder: a test run leaves the tree clean.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reviews.web.deps import BoardTiming
from stream.model.events import AckMessage, BoardAction
from stream.model.timeline import AckRecorded, BoardActed
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, CoreRun
from tests.reviews.web.board_served import CHICAGO, serve_board
from tests.reviews.web.fixtures import PASSWORD

pytestmark = pytest.mark.integration

DOC_SHOTS = Path(os.environ["VIGIL_SCREENSHOTS"]) if os.environ.get("VIGIL_SCREENSHOTS") else Path(tempfile.mkdtemp(prefix="vigil-shots-"))
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)
STREET = "vi-north-nearnorth"
TIMING = BoardTiming()  # the shipped timing: polled every 0.5 s
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/board")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/board$"))


def _answered(page, activation: str, team: str) -> None:
    page.wait_for_selector(f"#row-{activation} li.team[data-team={team}][data-answered='1']", timeout=5000)


def _ack(activation: str, n: int, at: datetime, team: str = STREET, **kw) -> AckRecorded:
    return AckRecorded(entry_id=f"tl-browser-ack-{n}", activation_id=activation, at=at, team=team, first=n == 0, within_deadline=True, **kw)


@pytest.fixture
def board(tmp_path: Path):
    with serve_board(tmp_path, timing=TIMING, now=T0 + timedelta(minutes=3)) as served:
        yield served


def test_a_new_activation_and_its_answer_appear_without_a_reload(browser, board, deployment) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, board.url, "dana")
    assert page.locator("article.board-row").count() == 0 and page.is_visible("#empty")
    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
    run = CoreRun(deployment)
    jordan = run.shooting("BR-1", JORDAN, T0)
    board.store.append(run.records)
    page.wait_for_selector(f"#row-{jordan}", timeout=5000)
    row = page.locator(f"#row-{jordan}")
    assert "person shot" in row.inner_text() and "Jordan" in row.inner_text() and re.search(r"deadline 22:25: [67] min left", row.inner_text())
    assert page.is_hidden("#empty")
    run.answer("BR-1", STREET, T0 + timedelta(minutes=2), "on_my_way")
    board.store.append(run.records)
    _answered(page, jordan, STREET)
    assert "on my way at 22:17" in row.locator(f"li.team[data-team={STREET}]").inner_text()
    assert page.evaluate("window.sameDocument") is True
    assert re.fullmatch(r"live: last update \d+ s ago", page.inner_text("#feed-status"))
    context.close()


def test_a_lead_sees_only_their_teams_rows_live(browser, board, deployment) -> None:
    run = CoreRun(deployment)
    phillips = run.shooting("BR-2", MIDTOWN_PHILLIPS, T0)
    board.store.append(run.records)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, board.url, "lee")
    jordan = run.shooting("BR-3", JORDAN, T0 + timedelta(minutes=1))
    board.store.append(run.records)
    page.wait_for_selector(f"#row-{jordan}", timeout=5000)
    page.wait_for_timeout(1500)  # three more polls: the other team's activation stays away
    assert page.locator("article.board-row").count() == 1 and page.locator(f"#row-{phillips}").count() == 0
    assert "gvi-outreach" not in page.content() and "answer for" not in page.content()  # their lines only, no action forms
    context.close()


def test_dns_answers_on_a_teams_behalf_and_closes_an_activation(browser, board, deployment) -> None:
    run = CoreRun(deployment)
    jordan = run.shooting("BR-4", JORDAN, T0)
    board.store.append(run.records)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, board.url, "dana")
    street = page.locator(f"#row-{jordan} li.team[data-team={STREET}]")
    street.locator("summary").click()
    with page.expect_navigation():
        street.locator("button[value=on_my_way]").click()
    assert board.published == [AckMessage(ref=jordan, team=STREET, response="on_my_way", by="dana")]
    # what the worker records of it (the lead's core change): the board shows it as given on the team's behalf
    board.store.append([_ack(jordan, 0, T0 + timedelta(minutes=3), response="on_my_way", by="dana")])
    _answered(page, jordan, STREET)
    assert "on my way at 22:18, answered on the team's behalf by dana" in street.inner_text()

    page.locator(f"#row-{jordan} details.row-actions summary").click()
    with page.expect_navigation():
        page.locator(f"#row-{jordan} button.close").click()
    close = board.published[-1]
    assert isinstance(close, BoardAction) and (close.action, close.ref, close.by) == ("close", jordan, "dana")
    assert re.fullmatch(r"[A-Za-z0-9-]{8,}", close.request_id)  # the page's script gave the form its request id
    board.store.append([BoardActed(entry_id=f"tl-{close.request_id}", activation_id=jordan, at=T0 + timedelta(minutes=4),
                                   action="close", by="dana")])
    page.wait_for_selector(f"#row-{jordan}", state="detached", timeout=5000)
    assert page.is_visible("#empty")
    context.close()


def test_the_page_says_when_its_feed_is_stale(browser, board, deployment) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, board.url, "dana")
    # the stream answers, then says nothing at all (a proxy holding it, a server gone): no beat, no row
    page.route("**/board/events*", lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"},
                                                                body="retry: 600000\n\n"))
    page.reload()
    page.wait_for_function("() => document.getElementById('feed-status').textContent.startsWith('feed stale')",
                           timeout=int(TIMING.heartbeat_s * 3 * 1000 + 5000))
    assert re.fullmatch(r"feed stale: last update 1[5-9] s ago, reconnecting", page.inner_text("#feed-status"))
    assert "stale" in page.get_attribute("#feed-status", "class")
    context.close()


def _fill_the_night(board, deployment) -> dict[str, str]:
    """Four activations as a night's board shows them: one answered on the team's behalf, one overdue, one fresh,
    a drill."""
    run = CoreRun(deployment)
    ids = {"jordan": run.shooting("BR-10", JORDAN, T0 - timedelta(minutes=40))}
    run.answer("BR-10", STREET, T0 - timedelta(minutes=37))
    ids["phillips"] = run.shooting("BR-11", MIDTOWN_PHILLIPS, T0 - timedelta(minutes=25))
    ids["north"] = run.shooting("BR-12", HIAWATHA, T0 - timedelta(minutes=2))
    run.until(T0)
    records = [r.model_copy(update={"drill": True}) if r.kind == "decided" and r.activation_id == ids["north"] else r for r in run.records]
    board.store.append(records)
    board.store.append([_ack(ids["phillips"], 7, T0 - timedelta(minutes=1), team="gvi-outreach", response="ack", by="dana")])
    return ids


def test_rows_stack_on_a_phone_and_the_screenshots(browser, board, deployment) -> None:
    board.now = T0
    ids = _fill_the_night(board, deployment)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, board.url, "dana")
    assert page.locator(f"#row-{ids['phillips']}.overdue").count() == 1 and page.locator(f"#row-{ids['jordan']}.settled").count() == 1
    assert "DRILL" in page.locator(f"#row-{ids['north']}").inner_text()
    page.wait_for_function("() => document.getElementById('feed-status').textContent.startsWith('live')")
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SHOTS / "board.png"), full_page=True)
    context.close()

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    _sign_in(page, board.url, "dana")
    page.wait_for_function("() => document.getElementById('feed-status').textContent.startsWith('live')")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375  # nothing runs off the side
    # read again while the live feed is swapping the row in (a row being replaced has no computed style: '' once on
    # a loaded CI machine)
    deadline, columns = time.monotonic() + 5, ""
    while not columns and time.monotonic() < deadline:
        columns = page.eval_on_selector(f"#row-{ids['phillips']} li.team", "e => e.isConnected ? getComputedStyle(e).gridTemplateColumns : ''")
        time.sleep(0 if columns else 0.1)
    assert len(columns.split()) == 1, columns  # a team's facts and forms one under the other
    page.locator(f"#row-{ids['phillips']} li.team summary").first.click()
    targets = page.evaluate("""Array.from(document.querySelectorAll('article.board-row button, article.board-row summary'))
                               .filter(b => b.offsetParent !== null).map(b => b.getBoundingClientRect().height)""")
    assert len(targets) > 5 and min(targets) >= 44  # tap targets of 44 px at least
    page.screenshot(path=str(DOC_SHOTS / "board-phone.png"), full_page=False)
    phone.close()


# wrapped in an object: evaluate_handle would wait for a promise it was handed back
WATCH = """([row, want]) => ({seen: new Promise(resolve => {
  const done = () => { const el = document.getElementById(row); return el && el.textContent.includes(want); };
  if (done()) { resolve(performance.timeOrigin + performance.now()); return; }
  const seen = new MutationObserver(() => { if (done()) { seen.disconnect(); resolve(performance.timeOrigin + performance.now()); } });
  seen.observe(document.getElementById('rows'), {childList: true, subtree: true, characterData: true});
  setTimeout(() => { seen.disconnect(); resolve(null); }, 5000);
  window.boardWatch = true;
})})"""


def test_latency_from_a_stored_answer_to_the_row_changing(browser, board, deployment) -> None:
    run = CoreRun(deployment)
    activations = [run.shooting(f"BR-L{n}", point, T0 - timedelta(minutes=n)) for n, point in enumerate((JORDAN, MIDTOWN_PHILLIPS))]
    board.store.append(run.records)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, board.url, "dana")
    page.wait_for_function("() => document.getElementById('feed-status').textContent.startsWith('live')")
    rng = random.Random(17)
    latencies = []
    # 50 answers as a benchmark (load_tests/bench_board.py sets VIGIL_BOARD_BENCH); in `make test`, 8 to show each lands
    for n in range(50 if os.environ.get("VIGIL_BOARD_BENCH") else 8):
        activation = activations[n % 2]
        team = STREET if activation == activations[0] else "vi-south-phillips"
        answer = _ack(activation, 100 + n, T0 + timedelta(seconds=n), team=team, response="ack", name=f"bench-{n:02d}", person=f"p{n}")
        time.sleep(rng.uniform(0, TIMING.poll_s))  # answers arrive at any phase of the poll
        page.evaluate("window.boardWatch = false")
        watcher = page.evaluate_handle(WATCH, [f"row-{activation}", f"by bench-{n:02d}"])
        page.wait_for_function("() => window.boardWatch === true")
        stored = time.time() * 1000  # the insert's own time counts too
        board.store.append([answer])
        seen = page.evaluate("w => w.seen", watcher)
        assert seen is not None, f"answer {n} did not show within 5 s"
        latencies.append(seen - stored)
    context.close()
    ordered = sorted(latencies)
    p50, p99 = statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    result = {"answers": len(latencies), "poll_s": TIMING.poll_s, "p50_ms": round(p50), "p99_ms": round(p99), "max_ms": round(max(latencies)),
              "p50_over_poll": round(p50 / (TIMING.poll_s * 1000), 2), "p99_over_poll": round(p99 / (TIMING.poll_s * 1000), 2)}
    print("live board latency:", json.dumps(result))
    if os.environ.get("VIGIL_BOARD_BENCH"):
        Path(os.environ["VIGIL_BOARD_BENCH"]).write_text(json.dumps(result, indent=2) + "\n")
        # a poll every 0.5 s: half an interval on average, one at worst, plus the read and the render; the machine
        # varies 2x, so the bound is twice what this machine measured (docs/benchmarks.md). Only as a benchmark:
        # speed is judged in benchmarks, never asserted in `make test` on a machine of unknown load
        assert p50 < 2 * TIMING.poll_s * 1000 and p99 < 4 * TIMING.poll_s * 1000, result
