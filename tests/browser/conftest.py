"""A served demo for the browser tests: `vigil demo --serve` as a subprocess (on the session's broker),
and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium")


@dataclass
class ServedDemo:
    """Addresses and sign-ins printed by `vigil demo --serve`."""

    review_url: str  # the sample evening's review day
    inbox_url: str
    sign_ins: dict[str, str] = field(default_factory=dict)  # username → password
    output: str = ""
    topic_prefix: str = ""  # the demo's topics on the session's broker (demo<run>.)

    @property
    def base_url(self) -> str:
        """The web service's address."""
        return self.review_url.split("/review/", 1)[0]


@pytest.fixture(scope="session")
def served_demo(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    """The demo replayed and served: review pages, answer pages, the inbox. One per test process (it takes about
    a minute to start): the browser test modules share it, so a test changes only what no other test reads (its
    own outcome, note or answer), or starts from what it finds."""
    workdir = tmp_path_factory.mktemp("served-demo")
    process = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "--log-level", "warning", "demo", "--serve", "--bootstrap", kafka_bootstrap,
         "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=open(workdir / "demo.stderr", "wb"), text=True,  # noqa: SIM115
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("serving:"):
                break
        output = "".join(lines)
        review = re.search(r"^review\s+(http\S+)", output, re.M)
        inbox = re.search(r"^inbox\s+(http\S+)", output, re.M)
        assert review and inbox and output.count("sign in") >= 2, f"the demo did not serve:\n{output}\n{(workdir / 'demo.stderr').read_text()}"
        sign_ins = dict(re.findall(r"^sign in\s+(\S+) / (\S+)", output, re.M))
        prefix = re.search(r"topics (\S+)\*", output)
        yield ServedDemo(review.group(1), inbox.group(1).rstrip("/"), sign_ins, output, prefix.group(1) if prefix else "")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # the demo stops its worker and broker on an interrupt
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium. Module-scoped: Playwright's sync API keeps an event loop running while it is
    open, which would stop every asyncio test after it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def send_cad(served_demo: ServedDemo, bootstrap: str, incident: str, where: tuple[float, float]) -> None:
    """A person-shot CAD document for the served demo's worker, sent to its CAD topic on the session's broker (from a
    thread: Playwright's sync API keeps an event loop running on the test's)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from aiokafka import AIOKafkaProducer

    from stream.ops.kafka import Topics
    from tests.helpers import as_bytes, shooting

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(Topics(served_demo.topic_prefix).cad, as_bytes(shooting(incident, where)), key=b"cad")
        finally:
            await producer.stop()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, send()).result()
