"""Who is on the other end of a request (reviews/web/edge.py): trusted proxies, the client address, the forwarded
scheme, and the `vigil web` options that configure them."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request
from typer.testing import CliRunner

from reviews.web.edge import ClientAddress, TrustedProxies, client_address, forwarded_scheme, parse_address
from stream.cli.main import app as cli_app


def request_from(peer: str, *headers: tuple[str, str]) -> Request:
    """A request as the server hands it over: from ``peer``, with ``headers`` (repeats kept)."""
    return Request({"type": "http", "client": (peer, 50000), "headers": [(k.lower().encode(), v.encode()) for k, v in headers]})


@pytest.mark.parametrize(("text", "address"), [
    ("10.0.0.5", "10.0.0.5"), (" 10.0.0.5:443", "10.0.0.5"), ("[fd00::1]:443", "fd00::1"), ("fd00::1", "fd00::1"),
    ("::ffff:10.0.0.5", "10.0.0.5"), ("unknown", None), ("", None), ("1" * 80, None), ("10.0.0.5, 6.6.6.6", None),
])
def test_parse_address(text: str, address: str | None) -> None:
    found = parse_address(text)
    assert (None if found is None else str(found)) == address


def test_trusted_proxies_take_addresses_and_networks() -> None:
    proxies = TrustedProxies.parse("10.0.0.5, 10.1.0.0/16,fd00::/8,")
    assert [proxies.trusts(host) for host in ("10.0.0.5", "10.1.200.3", "fd00::9", "::ffff:10.0.0.5", "10.0.0.6", "testclient", None)] == [
        True, True, True, True, False, False, False]
    assert TrustedProxies.parse(None) == TrustedProxies() and not TrustedProxies().trusts("127.0.0.1")


@pytest.mark.parametrize(("text", "message"), [
    ("*", "'*' would believe every client's X-Forwarded-For: name the proxies' addresses or networks (e.g. 10.0.0.5 or 10.0.0.0/8)"),
    ("10.0.0.5,proxy.local", "'proxy.local' is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)"),
])
def test_trusted_proxies_refuse_what_is_no_address(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        TrustedProxies.parse(text)
    assert str(refused.value) == message


PROXIES = TrustedProxies.parse("10.0.0.5,10.9.0.0/16")


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("203.0.113.50", ["6.6.6.6"], ClientAddress("203.0.113.50")),  # not a proxy: ignored
    ("10.0.0.5", [], ClientAddress("10.0.0.5")),
    ("10.0.0.5", ["198.51.100.7"], ClientAddress("10.0.0.5", "198.51.100.7")),
    ("10.0.0.5", ["6.6.6.6, 198.51.100.7"], ClientAddress("10.0.0.5", "198.51.100.7")),  # the client wrote the left one
    ("10.0.0.5", ["6.6.6.6", "198.51.100.7, 10.9.1.1"], ClientAddress("10.0.0.5", "198.51.100.7")),  # two headers, one list
    ("10.0.0.5", ["6.6.6.6, garbage"], ClientAddress("10.0.0.5")),  # the proxy's own entry unreadable: nothing believed
    ("10.0.0.5", ["10.9.0.1"], ClientAddress("10.0.0.5", "10.9.0.1")),  # every hop a proxy
])
def test_client_address(peer: str, forwarded: list[str], expected: ClientAddress) -> None:
    assert client_address(request_from(peer, *(("X-Forwarded-For", value) for value in forwarded)), PROXIES) == expected


def test_client_address_as_recorded() -> None:
    assert str(ClientAddress("10.0.0.7")) == "10.0.0.7"
    assert str(ClientAddress("10.0.0.5", "203.0.113.9")) == "203.0.113.9 (X-Forwarded-For, via proxy 10.0.0.5)"
    assert ClientAddress("10.0.0.5", "203.0.113.9").host == "203.0.113.9"


@pytest.mark.parametrize(("peer", "values", "scheme"), [
    ("10.0.0.5", ["https"], "https"), ("10.0.0.5", ["HTTP "], "http"), ("6.6.6.6", ["https"], None),
    ("10.0.0.5", ["https", "http"], None), ("10.0.0.5", ["https, http"], None), ("10.0.0.5", ["gopher"], None),
])
def test_forwarded_scheme(peer: str, values: list[str], scheme: str | None) -> None:
    assert forwarded_scheme(request_from(peer, *(("X-Forwarded-Proto", v) for v in values)), PROXIES) == scheme


@pytest.mark.parametrize(("args", "message"), [
    (["--forwarded-allow-ips", "*"], "vigil: --forwarded-allow-ips: '*' would believe every client's X-Forwarded-For"),
    (["--trusted-user-header", "X-Forwarded-User"], "vigil: --trusted-user-header: a trusted user header needs the proxy that sets it"),
    (["--trusted-proxy-ips", "10.0.0.5"], "vigil: --trusted-proxy-ips and --trusted-proxy-secret-file vouch for --trusted-user-header"),
    (["--trusted-user-header", "X-Forwarded-User", "--trusted-proxy-ips", "proxy"], "vigil: --trusted-proxy-ips: 'proxy' is not an IP"),
    (["--trusted-user-header", "X-Forwarded-User", "--trusted-proxy-secret-file", "/nonexistent/secret"],
     "vigil: --trusted-proxy-secret-file /nonexistent/secret: cannot read it (No such file or directory)"),
    (["--trusted-user-header", "X-Forwarded-User", "--trusted-proxy-secret-file", "{short}"],
     "vigil: --trusted-user-header: the proxy secret must be at least 16 bytes (it is 5)"),
    (["--port", "9700", "--metrics-port", "9700"], "vigil: --metrics-port 9700 is the web port: /metrics needs a port of its own"),
])
def test_web_command_refuses_bad_edge_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], message: str) -> None:
    monkeypatch.setenv("VIGIL_ACK_SECRET", "web-edge-test-secret-0123")
    short = tmp_path / "short"
    short.write_text("short\n")
    result = CliRunner().invoke(cli_app, ["web", "--bootstrap", "127.0.0.1:1", *(a.format(short=short) for a in args)])
    assert result.exit_code == 2, result.output
    assert message in result.output
