"""Who is on the other end of a request to the web app, and how much of what it says about itself to believe.

- ``TrustedProxies``: the addresses or networks of the proxies in front of the app (``--forwarded-allow-ips``).
  Only a request whose network peer is one of them may say, in ``X-Forwarded-For`` and ``X-Forwarded-Proto``,
  which client it forwards and over what scheme; from anyone else those headers are ignored. None by default.
- ``ClientAddress``: the network peer, and the client a trusted proxy forwarded, as the audit log and the
  sign-in throttle record them (``10.0.0.7``, or ``203.0.113.9 (X-Forwarded-For, via proxy 10.0.0.5)``).
- ``SingleSignOn``: the trusted user header (``--trusted-user-header``). Believed only from the single
  sign-on proxy: a peer among its own addresses (``--trusted-proxy-ips``), or a request carrying the secret
  that proxy adds (``--trusted-proxy-secret-file``, sent in ``--trusted-proxy-secret-header``). A request
  carrying the user header twice, or not vouched for, is refused (``UntrustedClaim``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.requests import HTTPConnection

PROXY_SECRET_HEADER = "X-Vigil-Proxy-Secret"
PROXY_SECRET_MIN_BYTES = 16
_MAX_ADDRESS_CHARS = 64  # longer than any written address (an IPv6 with a zone, in brackets, with a port)
IPAddress = IPv4Address | IPv6Address


def parse_address(text: str | None) -> IPAddress | None:
    """The IP address in ``text`` (``10.0.0.5``, ``10.0.0.5:443``, ``[fd00::1]:443``, ``fd00::1``), an
    IPv4-mapped IPv6 address as its IPv4 one; None when it is not an address."""
    if not text or len(text) > _MAX_ADDRESS_CHARS:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":")[0]  # IPv4 with a port, as some proxies write it
    try:
        address = ip_address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
    return mapped or address


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose peers are proxies of this deployment; empty trusts nobody."""

    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def parse(cls, items: str | Iterable[str] | None) -> TrustedProxies:
        """From ``10.0.0.5,10.1.0.0/16,fd00::/8`` (or a list of such items); a ValueError naming the item
        that is no address or network. ``*`` is refused: it would believe every client's own word."""
        parts = items.split(",") if isinstance(items, str) else list(items or ())
        networks = []
        for item in (part.strip() for part in parts):
            if not item:
                continue
            if item == "*":
                raise ValueError("'*' would believe every client's X-Forwarded-For: name the proxies' addresses or networks "
                                 "(e.g. 10.0.0.5 or 10.0.0.0/8)")
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)") from None
        return cls(tuple(networks))

    def trusts(self, host: str | None) -> bool:
        """Whether ``host`` (a peer's address as the socket gives it) is one of the proxies."""
        address = parse_address(host)
        return address is not None and any(address in network for network in self.networks)


@dataclass(frozen=True)
class ClientAddress:
    """The request's network peer, and the client a trusted proxy said it forwards (None when the peer is
    no trusted proxy, or said nothing usable)."""

    peer: str
    forwarded_for: str | None = None

    @property
    def host(self) -> str:
        """The client as best known: the forwarded one through a trusted proxy, else the peer."""
        return self.forwarded_for or self.peer

    def __str__(self) -> str:
        if self.forwarded_for is None:
            return self.peer
        return f"{self.forwarded_for} (X-Forwarded-For, via proxy {self.peer})"


def client_address(connection: HTTPConnection, proxies: TrustedProxies) -> ClientAddress:
    """Who sent the request: its peer, and, when the peer is a trusted proxy, the client ``X-Forwarded-For``
    names: the right-most entry that is not itself a trusted proxy (every entry left of it was written by
    the client, which can write anything)."""
    peer = connection.client.host if connection.client else "unknown"
    if not proxies.trusts(peer):
        return ClientAddress(peer)
    hops = [hop.strip() for value in connection.headers.getlist("x-forwarded-for") for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return ClientAddress(peer)  # where the proxy's own entry should be: nothing to believe
        if not proxies.trusts(str(address)):
            return ClientAddress(peer, str(address))
    first = parse_address(hops[0]) if hops else None
    return ClientAddress(peer, None if first is None else str(first))  # every hop a proxy: the first is the furthest seen


def forwarded_scheme(connection: HTTPConnection, proxies: TrustedProxies) -> str | None:
    """``http`` or ``https`` as a trusted proxy's ``X-Forwarded-Proto`` says; None from anyone else, or for
    anything but exactly one of those two."""
    if not proxies.trusts(connection.client.host if connection.client else None):
        return None
    values = connection.headers.getlist("x-forwarded-proto")
    scheme = values[0].strip().lower() if len(values) == 1 else ""
    return scheme if scheme in ("http", "https") else None


class UntrustedClaim(Exception):
    """A trusted user header this request may not use: ``status`` and ``reason`` (for the audit log)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SingleSignOn:
    """The single sign-on proxy's header naming the signed-in user, and how a request shows it came through
    that proxy: its peer is one of ``proxies``, or it carries ``secret`` in ``secret_header``."""

    header: str
    proxies: TrustedProxies = TrustedProxies()
    secret: bytes | None = field(default=None, repr=False)  # never in a repr, so never in a log line
    secret_header: str = PROXY_SECRET_HEADER

    def __post_init__(self) -> None:
        if not self.header.strip():
            raise ValueError("the trusted user header has no name")
        if not self.proxies.networks and self.secret is None:
            raise ValueError("a trusted user header needs the proxy that sets it: its addresses (--trusted-proxy-ips) "
                             "or the secret it adds (--trusted-proxy-secret-file)")
        if self.secret is not None:
            check_proxy_secret(self.secret)
        if self.header.strip().lower() == self.secret_header.strip().lower():
            raise ValueError(f"the trusted user header and the proxy secret header are both {self.header!r}")

    def claim(self, connection: HTTPConnection) -> str | None:
        """The username the proxy's header names (stripped), None when the request has no such header; an
        ``UntrustedClaim`` when it has it twice or did not come through the proxy."""
        values = connection.headers.getlist(self.header)
        if not values:
            return None
        # a proxy that adds its header instead of replacing the client's would pass both on
        if len(values) > 1:
            raise UntrustedClaim(400, f"the single sign-on header came {len(values)} times")
        if not self.vouched(connection):
            raise UntrustedClaim(403, "the single sign-on header did not come through the single sign-on proxy")
        return values[0].strip()

    def vouched(self, connection: HTTPConnection) -> bool:
        """Whether the request came through the single sign-on proxy: by its peer address, or its secret."""
        if self.proxies.trusts(connection.client.host if connection.client else None):
            return True
        if self.secret is None:
            return False
        given = connection.headers.getlist(self.secret_header)
        return len(given) == 1 and hmac.compare_digest(given[0].encode("latin-1"), self.secret)


def check_proxy_secret(secret: bytes) -> bytes:
    """``secret`` if it can be the proxy's secret: 16+ bytes a header can carry (visible ASCII, no spaces);
    a ValueError saying what is wrong otherwise (never the secret itself)."""
    if len(secret) < PROXY_SECRET_MIN_BYTES:
        raise ValueError(f"the proxy secret must be at least {PROXY_SECRET_MIN_BYTES} bytes (it is {len(secret)})")
    if any(byte < 0x21 or byte > 0x7E for byte in secret):
        raise ValueError("the proxy secret must be visible ASCII without spaces (a header carries it), e.g. `openssl rand -hex 32`")
    return secret
