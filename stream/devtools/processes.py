"""A ``vigil worker`` child process: started, awaited until ready, stopped or killed; and ``StopSignals``, which
lets a command that starts child processes stop them all when it is told to stop.

The demo, the integration tests and the benchmarks all run real workers through this.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from stream.ops.metrics import metrics_port_file


class WorkerProcess:
    """One worker subprocess with its own data folder, log file and ready file."""

    def __init__(
        self,
        bootstrap: str,
        contacts: Path,
        db_url: str,
        workdir: Path,
        name: str = "worker",
        app_id: str = "vigil",
        topic_prefix: str = "",
        fetch_wait_ms: int = 10,
        clock_start: str | None = None,
        clock_rate: float = 1.0,
        stream_time: bool = False,
        table_store: str = "memory://",
        ack_secret: str | None = None,
        public_url: str = "http://127.0.0.1:8600",
        metrics_port: int = 0,
        faust_sensors: bool = False,
    ):
        self.bootstrap = bootstrap
        self.contacts = contacts
        self.db_url = db_url
        self.workdir = workdir
        self.name = name
        self.app_id = app_id
        self.topic_prefix = topic_prefix
        self.fetch_wait_ms = fetch_wait_ms
        self.clock_start = clock_start
        self.clock_rate = clock_rate
        self.stream_time = stream_time
        self.table_store = table_store
        # the key of the alerts' ack links: the web service that checks them needs the same one
        self.ack_secret = ack_secret or os.environ.get("VIGIL_ACK_SECRET") or secrets.token_urlsafe(24)
        self.public_url = public_url
        self.metrics_port = metrics_port  # 0: a free port, found through ``metrics_url()``
        self.faust_sensors = faust_sensors
        self.ready_file = workdir / f"{name}.ready"
        self.metrics_file = metrics_port_file(self.ready_file)
        self.log_path = workdir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = None

    def command(self) -> list[str]:
        """The worker's command line."""
        return [
            sys.executable, "-m", "stream.cli", "--log-level", "info", "worker",
            "--bootstrap", self.bootstrap,
            "--contacts", str(self.contacts),
            "--db-url", self.db_url,
            "--data-dir", str(self.workdir / f"{self.name}-data"),
            "--ready-file", str(self.ready_file),
            "--app-id", self.app_id,
            "--topic-prefix", self.topic_prefix,
            "--fetch-wait-ms", str(self.fetch_wait_ms),
            "--public-url", self.public_url,
            "--table-store", self.table_store,
            "--metrics-port", str(self.metrics_port),
            *(["--faust-sensors"] if self.faust_sensors else []),
            *(["--clock-start", self.clock_start, "--clock-rate", str(self.clock_rate)] if self.clock_start else []),
            *(["--stream-time"] if self.stream_time else []),
        ]

    def start(self) -> None:
        """Start the worker process (returns at once; see ``wait_ready``)."""
        self.ready_file.unlink(missing_ok=True)
        self.metrics_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "VIGIL_ACK_SECRET": self.ack_secret}
        self._process = subprocess.Popen(self.command(), stdout=self._log, stderr=self._log, env=env)

    def alive(self) -> bool:
        """True while the process runs."""
        return self._process is not None and self._process.poll() is None

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until the worker has joined its group and recovered its tables."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with code {self.exit_code()}; last log lines:\n{self.log_tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s; last log lines:\n{self.log_tail()}")

    def metrics_url(self) -> str:
        """The worker's /metrics address (the port it bound, from its ``<ready>.metrics`` file); call after
        ``wait_ready``."""
        if not self.metrics_file.exists():
            raise RuntimeError(f"{self.name} serves no metrics (no {self.metrics_file}); last log lines:\n{self.log_tail()}")
        return f"http://127.0.0.1:{int(self.metrics_file.read_text(encoding='utf-8'))}/metrics"

    def exit_code(self) -> int | None:
        """The exit code, or None while running."""
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the worker's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), killing after ``timeout`` seconds."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to commit or flush."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class StopSignals:
    """While inside (``with``, in the task that owns the child processes): SIGTERM or SIGINT cancels that task,
    once, so its ``finally`` blocks stop every process it started; ``received`` says which signal came.

    Python's default SIGTERM ends the process at once, with no ``finally``: `vigil demo --serve` left its
    broker and worker running, re-parented (issue 15). uvicorn (the demo's answer pages) puts its own handlers
    in while it serves and raises the signal again once it has stopped; this handler still sees the first
    delivery (the loop reads every signal from its wakeup fd) and ignores the later ones, so a stop already
    under way is never cancelled half-way through its cleanup (which is bounded: a worker is killed 15 s
    after its SIGTERM, the broker 5 s after its)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # signals are delivered to the main thread only
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            for sig in self.SIGNALS:
                self._loop.add_signal_handler(sig, self._stop, sig)
        return self

    def _stop(self, sig: signal.Signals) -> None:
        if self.received is None and self._task is not None:
            self.received = sig
            self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._loop is not None:
            for sig in self.SIGNALS:
                self._loop.remove_signal_handler(sig)
            self._loop = None
