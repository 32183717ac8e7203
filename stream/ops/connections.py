"""Bounds on a listener's connections, shared by `vigil hl7-listen`, `vigil ingest-http` and the /metrics ports.

A listener keeps at most ``cap`` connections. When one more arrives, the connection that has been silent the
longest (and is not being answered) is closed to make room: a thousand slow clients can then never lock out
a hospital's interface engine or a CAD system, which connect, send at once and are never the most silent.
The cap also stays under the process's descriptor limit, so that accept() never fails for want of one.
What keeps happening under attack (the cap reached, accept() failing) is logged at most once a minute.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import resource
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from stream.ops.metrics import NAMESPACE

log = structlog.get_logger(__name__)

LOG_EVERY_S = 60.0
# Descriptors a listener needs besides its clients: broker connections, the metrics port and its clients, log
# files, DNS lookups (about 60); and one accept burst: asyncio accepts up to 100 connections in a loop pass before
# those shed for them are closed. The cap is lowered to leave them free.
RESERVED_DESCRIPTORS = 160
# accept() errors that mean "out of descriptors or memory": asyncio reports them and retries a second later
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
CLOSE_REASONS = ("shed", "idle", "deadline", "address", "tls", "refused")
# A connection that sent bytes this recently is not shed: slow clients that were all closed at once come back
# at once, and a wave larger than the cap would otherwise close every connection, the engine's that has just
# sent its message included. Newcomers that have sent nothing yet can be shed at once.
SHED_GRACE_S = 0.1


class Throttle:
    """Whether to write a log line now: at most one per ``every`` seconds, carrying how many occurrences it
    stands for. Thread-safe (the /metrics server counts from several threads)."""

    def __init__(self, every: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self._clock = clock
        self._next = float("-inf")
        self._count = 0
        self._lock = threading.Lock()

    def hit(self) -> int | None:
        """Count one occurrence; the number of occurrences since the last line when a line is due, else None."""
        with self._lock:
            self._count += 1
            now = self._clock()
            if now < self._next:
                return None
            self._next = now + self.every
            count, self._count = self._count, 0
            return count


def descriptor_room() -> int | None:
    """How many client connections the descriptor limit (soft RLIMIT_NOFILE) leaves room for; None: no limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, soft - RESERVED_DESCRIPTORS)


def effective_cap(wanted: int, service: str) -> int:
    """``wanted`` connections, or fewer when the descriptor limit would not hold them (said once, at start)."""
    room = descriptor_room()
    if room is not None and room < wanted:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        log.warning(f"{service}.connection_cap_lowered", wanted=wanted, cap=room, nofile=soft,
                    hint=f"the descriptor limit (ulimit -n {soft}) keeps {RESERVED_DESCRIPTORS} for the process itself")
        return room
    return wanted


@dataclass
class _Connection:
    close: Callable[[], None]
    opened: float
    last_active: float  # connected, bytes arrived or an answer went out: the most silent is shed first
    spoke: float = float("-inf")  # bytes arrived or an answer went out: protected for ``grace_s``
    busy: int = 0
    waiting: Callable[[], bool] | None = None  # whether bytes wait unread on its socket (``bytes_waiting``)


def bytes_waiting(connection: Any) -> Callable[[], bool]:
    """For a transport or a socket: whether bytes (or the peer's close) wait unread on it. A client's request
    can be in the kernel's buffer while the event loop is still accepting a wave of other connections: that
    connection has spoken, and shedding it as silent reset a legitimate request (the slow-client drill)."""
    sock = connection.get_extra_info("socket") if hasattr(connection, "get_extra_info") else connection
    try:
        fd = sock.fileno() if sock is not None else -1
    except OSError:
        fd = -1

    def waiting() -> bool:
        if fd < 0:
            return False
        poller = select.poll()  # not select.select: descriptors above 1024 are the norm under a flood
        poller.register(fd, select.POLLIN | select.POLLPRI)
        try:
            return bool(poller.poll(0))
        except OSError:
            return False

    return waiting


class ConnectionSlots:
    """At most ``cap`` open connections; a new one past it sheds the longest-silent idle one.

    Connections are keyed by any hashable (a transport, a socket). ``close`` must end the connection without
    blocking (abort a transport, shut a socket down). Thread-safe. With a ``registry``, exports
    ``vigil_<service>_connections`` (open now) and ``vigil_<service>_connections_closed_total{reason}``.
    """

    def __init__(self, cap: int, service: str, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.monotonic, grace_s: float = SHED_GRACE_S):
        if cap < 1:
            raise ValueError(f"the connection cap must be at least 1, not {cap}")
        self.cap = cap
        self.service = service
        self.grace_s = grace_s
        self._clock = clock
        self._open: dict[Any, _Connection] = {}
        self._lock = threading.Lock()
        self._at_cap = Throttle()
        self.closed_counts: dict[str, int] = dict.fromkeys(CLOSE_REASONS, 0)
        self._gauge = self._counter = None
        if registry is not None:
            self._gauge = Gauge(f"{service}_connections", "Open client connections.", namespace=NAMESPACE, registry=registry)
            self._counter = Counter(f"{service}_connections_closed", "Client connections closed by the listener, by reason "
                                    "(shed: room for a new one at the cap; idle; deadline: a request or frame not completed "
                                    "in time; address: not allowed; tls: handshake failed; refused: at the cap, none to shed).",
                                    ["reason"], namespace=NAMESPACE, registry=registry)

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, key: Any, close: Callable[[], None], waiting: Callable[[], bool] | None = None) -> bool:
        """Register a new connection; at the cap, close the longest-silent idle one to make room. False (and the
        new one closed) when every open connection is being answered, sent bytes in the last ``grace_s`` or has
        bytes ``waiting`` unread (``bytes_waiting``: a request not read yet is not silence)."""
        with self._lock:
            victim = self._victim() if len(self._open) >= self.cap else None
            refused = len(self._open) >= self.cap and victim is None
            if not refused:
                now = self._clock()
                self._open[key] = _Connection(close, now, now, waiting=waiting)
            self._set_gauge()
        if refused or victim is not None:
            self._report_cap()
        if victim is not None:
            self.closed("shed")
            victim.close()
        if refused:
            self.closed("refused")
            close()
        return not refused

    def _victim(self) -> _Connection | None:
        now = self._clock()
        idle = sorted((c.last_active, n, k) for n, (k, c) in enumerate(self._open.items()) if not c.busy and c.spoke <= now - self.grace_s)
        for _, _, key in idle:
            connection = self._open[key]
            if connection.waiting is not None and connection.waiting():
                connection.last_active = connection.spoke = now  # its bytes are there: it has spoken
                continue
            return self._open.pop(key)
        return None

    def _report_cap(self) -> None:
        if (count := self._at_cap.hit()) is not None:
            log.warning(f"{self.service}.connections_at_cap", cap=self.cap, times=count, shed_total=self.closed_counts["shed"],
                        refused_total=self.closed_counts["refused"], every_s=self._at_cap.every)

    def active(self, key: Any) -> None:
        """The connection made progress (bytes arrived, an answer went out): it is not silent."""
        connection = self._open.get(key)
        if connection is not None:
            connection.last_active = connection.spoke = self._clock()

    @contextmanager
    def busy(self, key: Any) -> Iterator[None]:
        """While the block runs, the connection is being answered and is never shed."""
        connection = self._open.get(key)
        if connection is not None:
            connection.busy += 1
        try:
            yield
        finally:
            if connection is not None:
                connection.busy -= 1
                connection.last_active = connection.spoke = self._clock()

    def close_overdue(self, age: float) -> int:
        """Close every idle connection open for more than ``age`` seconds (counted as ``deadline``); how many."""
        cutoff = self._clock() - age
        with self._lock:
            overdue = [k for k, c in self._open.items() if not c.busy and c.opened < cutoff]
            victims = [self._open.pop(k) for k in overdue]
            self._set_gauge()
        for victim in victims:
            self.closed("deadline")
            victim.close()
        return len(victims)

    def release(self, key: Any) -> None:
        """The connection ended (however it ended)."""
        with self._lock:
            self._open.pop(key, None)
            self._set_gauge()

    def closed(self, reason: str) -> None:
        """Count a connection the listener closed, by reason (one of ``CLOSE_REASONS``)."""
        self.closed_counts[reason] += 1
        if self._counter is not None:
            self._counter.labels(reason).inc()

    def _set_gauge(self) -> None:
        if self._gauge is not None:
            self._gauge.set(len(self._open))


def quiet_accept_errors(loop: Any, service: str) -> Callable[[], None]:
    """Make ``loop`` log accept() failures for want of descriptors or memory (EMFILE...) as one line at most
    once a minute, instead of an error with a traceback each time (asyncio retries every second, and a
    listener out of descriptors logged 55 MB in 45 s). Anything else goes to the previous handler.
    Returns a function that puts the previous handler back."""
    previous = loop.get_exception_handler()
    throttle = Throttle()

    def handler(loop: Any, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in RESOURCE_ERRNOS:
            if (count := throttle.hit()) is not None:
                log.warning(f"{service}.accept_failed", error=errno.errorcode.get(error.errno or 0, str(error.errno)),
                            message=str(error), times=count, every_s=throttle.every)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return lambda: loop.set_exception_handler(previous)


ANY_ADDRESS = "any"
LOOPBACK = ("127.0.0.0/8", "::1/128")


class AddressAllowList:
    """The networks a listener accepts connections from (CIDRs, or ``any``). IPv4 peers that reach a
    dual-stack socket as ``::ffff:a.b.c.d`` are judged as IPv4."""

    def __init__(self, networks: list[str] | tuple[str, ...]):
        parsed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in (n.strip() for item in networks for n in item.split(",")):
            if not entry:
                continue
            if entry.lower() == ANY_ADDRESS:
                parsed += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
                continue
            try:
                parsed.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network (e.g. 10.20.0.0/16, 192.0.2.7, ::1, or 'any')") from None
        if not parsed:
            raise ValueError("no address to accept connections from: give CIDR networks, or 'any'")
        self.networks = tuple(parsed)

    @property
    def open_to_all(self) -> bool:
        """True when every address is allowed (a 0-length prefix)."""
        return any(n.prefixlen == 0 for n in self.networks)

    def allows(self, peer: Any) -> bool:
        """Whether a peer (``peername``: a tuple whose first item is the address; a UNIX socket's str) may connect."""
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in n for n in self.networks if n.version == address.version)

    def __str__(self) -> str:
        return ",".join(str(n) for n in self.networks)


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from a PEM certificate chain and its key; ``ValueError`` naming
    the file and the reason when they cannot be loaded."""
    for path in (cert, key):
        if not os.path.isfile(path):
            raise ValueError(f"TLS: no such file: {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"TLS: cannot load the certificate {cert} with the key {key}: {exc}") from None
    return context
