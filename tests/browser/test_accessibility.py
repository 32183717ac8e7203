"""Accessibility in a real Chromium: axe-core (Deque's rules, installed from npm by `make axe`) finds no serious or
critical violation on the public site's pages (`vigil publish`) or on the live board (issue 19, item 4)."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from reviews.store import ReviewStore
from tests.browser.test_board import T0, TIMING, _fill_the_night, _sign_in
from tests.helpers import vigil_in_process
from tests.reviews.publish.scenario import NOW, two_weeks
from tests.reviews.web.board_served import serve_board

pytestmark = pytest.mark.integration

AXE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
# each violation as [rule, impact, how many elements, what it asks]
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => [v.id, v.impact, v.nodes.length, v.help]);
}"""
SERIOUS = ("serious", "critical")
# the site's screenshots (site-phone.png, site-desktop.png) go where VIGIL_SCREENSHOTS says (`VIGIL_SCREENSHOTS=docs/screenshots`
# refreshes the docs'), else to a temporary folder: a test run leaves the tree clean
DOC_SHOTS = Path(os.environ["VIGIL_SCREENSHOTS"]) if os.environ.get("VIGIL_SCREENSHOTS") else Path(tempfile.mkdtemp(prefix="vigil-shots-"))


def violations(page) -> list[list]:
    """axe-core's serious and critical violations on the page as it is now."""
    assert AXE.exists(), f"axe-core is missing ({AXE}): `make axe` installs it from npm"
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(RUN_AXE) if v[1] in SERIOUS]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, deployment) -> Path:
    """The public site of a month (the hour-of-week grid included) over the known case, in a SQLite store."""
    folder = tmp_path_factory.mktemp("site")
    db_url = f"sqlite:///{folder / 'review.sqlite'}"
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(two_weeks(deployment).records)
    store.dispose()
    result = vigil_in_process("publish", "--db-url", db_url, "--from", "2026-06-22", "--to", "2026-07-19", "--out", str(folder / "out"),
                              "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    return folder / "out"


@pytest.mark.parametrize("page_name", ["index.html", "methodology.html", "data-dictionary.html"])
def test_the_public_site_has_no_serious_violation(browser, site: Path, page_name: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto((site / page_name).as_uri())
    assert page.locator("h1").count() == 1
    assert violations(page) == []
    if page_name == "index.html":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_SHOTS / "site-phone.png"), full_page=False)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(DOC_SHOTS / "site-desktop.png"), full_page=False)
    context.close()


def test_the_live_board_has_no_serious_violation(browser, tmp_path: Path, deployment) -> None:
    with serve_board(tmp_path, timing=TIMING, now=T0 + timedelta(minutes=3)) as board:
        board.now = T0
        _fill_the_night(board, deployment)
        # the board's CSP allows its own scripts only: the test's axe-core comes in with the policy bypassed
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        _sign_in(page, board.url, "dana")
        assert re.search(r"/board$", page.url)
        page.locator("li.team summary").first.click()  # a team's forms open, as DNS uses them
        assert violations(page) == []
        context.close()
