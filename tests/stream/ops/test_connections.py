"""The connection bounds the listeners share: the cap that sheds the longest-silent, the once-a-minute log
lines, the descriptor limit, the sender allow-list."""

from __future__ import annotations

import asyncio
import errno
import resource
import socket

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from stream.ops import connections
from stream.ops.connections import AddressAllowList, ConnectionSlots, Throttle, bytes_waiting, effective_cap, quiet_accept_errors


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_says_once_a_minute_and_how_many_it_stands_for() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    assert throttle.hit() == 1
    assert [throttle.hit() for _ in range(99)] == [None] * 99
    clock.now += 60
    assert throttle.hit() == 100


def test_slots_shed_the_longest_silent_idle_connection_never_a_busy_one() -> None:
    clock = Clock()
    closed: list[str] = []
    slots = ConnectionSlots(3, "test", CollectorRegistry(), clock=clock)
    for name in ("a", "b", "c"):
        clock.now += 1
        assert slots.admit(name, lambda n=name: closed.append(n))
    clock.now += 1
    slots.active("a")  # a spoke last: b is now the most silent
    with slots.busy("b"):
        clock.now += 1
        assert slots.admit("d", lambda: closed.append("d"))
    assert closed == ["c"]  # b was being answered
    assert len(slots) == 3 and slots.closed_counts["shed"] == 1


def test_a_wave_past_the_cap_sheds_silent_newcomers_but_not_the_engine_that_just_spoke() -> None:
    """Slow clients closed together come back together: a wave larger than the cap must not close the
    engine's connection that has just sent its message (nor one being answered). Newcomers that have sent
    nothing are shed at once; when only protected ones are left, the newcomer is refused."""
    clock = Clock()
    closed: list[str] = []
    slots = ConnectionSlots(3, "test", clock=clock)
    for name in ("busy", "engine", "silent"):
        slots.admit(name, lambda n=name: closed.append(n))
    clock.now += 1
    slots.active("engine")
    with slots.busy("busy"):
        for n in range(3):  # the same instant: the engine spoke just now
            slots.admit(f"wave-{n}", lambda n=n: closed.append(f"wave-{n}"))
        clock.now += 0.05
        slots.active("wave-2")
        assert not slots.admit("wave-3", lambda: closed.append("wave-3"))  # busy, engine and wave-2 spoke within 100 ms
    assert closed == ["silent", "wave-0", "wave-1", "wave-3"]
    assert (slots.closed_counts["shed"], slots.closed_counts["refused"]) == (3, 1)


def test_a_connection_whose_request_waits_unread_is_not_shed_as_silent() -> None:
    # in a wave the loop is still accepting while a client's request already sits in the kernel's buffer:
    # shedding that connection as silent reset a legitimate request (slow-client drill, ingest-http and web)
    clock = Clock()
    pairs = [socket.socketpair() for _ in range(3)]
    closed: list[int] = []
    try:
        slots = ConnectionSlots(2, "test", CollectorRegistry(), clock=clock)
        slots.admit(0, lambda: closed.append(0), bytes_waiting(pairs[0][0]))  # the legitimate one, oldest
        clock.now += 1
        slots.admit(1, lambda: closed.append(1), bytes_waiting(pairs[1][0]))  # a slow client
        pairs[0][1].sendall(b"POST /eido HTTP/1.1\r\n")  # its request arrived, not read yet
        clock.now += 1
        assert slots.admit(2, lambda: closed.append(2), bytes_waiting(pairs[2][0]))
        assert closed == [1]
        assert not bytes_waiting(pairs[2][0])()
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_overdue_idle_connections_are_closed() -> None:
    clock = Clock()
    closed: list[str] = []
    slots = ConnectionSlots(5, "test", clock=clock)
    slots.admit("old", lambda: closed.append("old"))
    slots.admit("busy", lambda: closed.append("busy"))
    clock.now += 11
    slots.admit("new", lambda: closed.append("new"))
    with slots.busy("busy"):
        assert slots.close_overdue(10) == 1
    assert closed == ["old"]


def test_the_cap_is_lowered_under_the_descriptor_limit(monkeypatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (256, 4096))
    with capture_logs() as logs:
        assert effective_cap(1000, "hl7") == 256 - connections.RESERVED_DESCRIPTORS
        assert effective_cap(64, "hl7") == 64
    assert [(e["event"], e["cap"]) for e in logs] == [("hl7.connection_cap_lowered", 256 - connections.RESERVED_DESCRIPTORS)]


@pytest.mark.parametrize(("networks", "peer", "allowed"), [
    (["127.0.0.0/8,::1"], ("127.0.0.1", 5000), True),
    (["127.0.0.0/8,::1"], ("::1", 5000, 0, 0), True),
    (["127.0.0.0/8,::1"], ("::ffff:127.0.0.1", 5000, 0, 0), True),  # IPv4 through a dual-stack socket
    (["127.0.0.0/8,::1"], ("192.0.2.7", 5000), False),
    (["10.20.0.0/16", "192.0.2.7"], ("192.0.2.7", 1), True),
    (["10.20.0.0/16"], ("10.21.0.1", 1), False),
    (["any"], ("203.0.113.9", 1), True),
    (["any"], "/run/socket", False),
])
def test_allow_list(networks: list[str], peer: object, allowed: bool) -> None:
    assert AddressAllowList(networks).allows(peer) is allowed


def test_allow_list_says_when_it_is_open_to_all() -> None:
    assert AddressAllowList(["any"]).open_to_all and AddressAllowList(["0.0.0.0/0"]).open_to_all
    assert not AddressAllowList(["10.0.0.0/8"]).open_to_all


@pytest.mark.parametrize(("networks", "message"), [
    (["10.0.0.300/8"], "'10.0.0.300/8' is not an IP address or CIDR network"),
    (["hospital.example.org"], "'hospital.example.org' is not an IP address or CIDR network"),
    ([" , "], "no address to accept connections from"),
])
def test_allow_list_names_what_it_cannot_read(networks: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AddressAllowList(networks)


async def test_accept_errors_for_want_of_descriptors_are_one_line_a_minute() -> None:
    loop = asyncio.get_running_loop()
    other: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: other.append(context))
    restore = quiet_accept_errors(loop, "hl7")
    try:
        with capture_logs() as logs:
            for _ in range(1000):
                loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                             "exception": OSError(errno.EMFILE, "Too many open files")})
            loop.call_exception_handler({"message": "something else", "exception": ValueError("x")})
    finally:
        restore()
        loop.set_exception_handler(None)
    assert [(e["event"], e["error"], e["times"]) for e in logs] == [("hl7.accept_failed", "EMFILE", 1)]
    assert [c["message"] for c in other] == ["something else"]
