"""The SSRF guard: which addresses we may connect to, checked on the address actually dialled.

Three checks, each enough on its own for the case it covers:

1. :meth:`SsrfPolicy.check_host` — the URL's host, when it is an IP literal in *any* notation a
   C resolver accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1``, ``127.1``, ``[::1]``,
   ``[::ffff:127.0.0.1]``). aiohttp never asks a resolver about literals, so this check runs
   before the request (in :class:`senders.client.HttpClient`).
2. :class:`GuardedResolver` — wraps the real resolver and drops every refused address from the
   answer; a name that resolves only to refused addresses raises SsrfRefused. A name resolving to
   a public *and* a private address connects only to the public one (the private one is logged
   and dropped, not tried).
3. :meth:`SsrfPolicy.socket_factory` — aiohttp calls it with the resolved address just before
   ``connect()``; a refused address raises there. This is the backstop that makes DNS rebinding,
   caches and any future aiohttp shortcut irrelevant: the check is on the address connected.

Allowlisted networks (``allow_networks``, CIDR) override every refusal, including metadata
addresses inside them; tests allowlist ``127.0.0.0/8``.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from typing import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from .errors import SsrfRefused

__all__ = ["AddressRefused", "GuardedResolver", "SsrfPolicy", "literal_address"]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]]

_METADATA = "is a cloud metadata address"
_DOCS = "is reserved for documentation"
_RANGES: tuple[tuple[str, str], ...] = (
    # first match wins: specific before general
    ("169.254.169.254/32", _METADATA),  # AWS, GCP, Azure, OCI, DigitalOcean
    ("169.254.170.2/32", _METADATA),  # AWS ECS task metadata
    ("100.100.100.200/32", _METADATA),  # Alibaba Cloud
    ("fd00:ec2::254/128", _METADATA),  # AWS IPv6
    ("0.0.0.0/32", "is unspecified"),
    ("0.0.0.0/8", "is in 'this network' (0.0.0.0/8)"),
    ("127.0.0.0/8", "is loopback"),
    ("10.0.0.0/8", "is private"),
    ("172.16.0.0/12", "is private"),
    ("192.168.0.0/16", "is private"),
    ("169.254.0.0/16", "is link-local"),
    ("100.64.0.0/10", "is shared address space (CGNAT)"),
    ("192.0.0.0/24", "is reserved for IETF protocol assignments"),
    ("192.0.2.0/24", _DOCS),
    ("198.51.100.0/24", _DOCS),
    ("203.0.113.0/24", _DOCS),
    ("198.18.0.0/15", "is reserved for benchmarking"),
    ("192.88.99.0/24", "is a 6to4 relay anycast address"),
    ("224.0.0.0/4", "is multicast"),
    ("255.255.255.255/32", "is broadcast"),
    ("240.0.0.0/4", "is reserved"),
    ("::/128", "is unspecified"),
    ("::1/128", "is loopback"),
    ("::/96", "is an IPv4-compatible address (deprecated)"),
    ("64:ff9b:1::/48", "is local-use NAT64"),
    ("100::/64", "is discard-only"),
    ("2001::/32", "is a Teredo tunnel address"),
    ("2001:2::/48", "is reserved for benchmarking"),
    ("2001:10::/28", "is reserved (ORCHID)"),
    ("2001:20::/28", "is reserved (ORCHIDv2)"),
    ("2001:db8::/32", _DOCS),
    ("3fff::/20", _DOCS),
    ("fc00::/7", "is private (unique local)"),
    ("fe80::/10", "is link-local"),
    ("fec0::/10", "is site-local (deprecated)"),
    ("ff00::/8", "is multicast"),
)
_TABLE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), reason) for net, reason in _RANGES)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")


class AddressRefused(OSError):
    """Raised inside aiohttp's connect step; carries the SsrfRefused for the one boundary."""

    def __init__(self, refusal: SsrfRefused) -> None:
        super().__init__(errno.EACCES, str(refusal))
        self.refusal = refusal


class SsrfPolicy:
    """Refuses private, loopback, link-local, CGNAT, multicast, reserved, documentation,
    benchmarking, broadcast and cloud-metadata addresses, and checks the IPv4 address embedded
    in IPv4-mapped, NAT64 and 6to4 addresses; Teredo is refused outright. Networks named in
    ``allow_networks`` (CIDR strings) are allowed whatever else they are."""

    def __init__(self, allow_networks: Sequence[str] = ()) -> None:
        nets: list[IPNetwork] = []
        for i, net in enumerate(allow_networks):
            try:
                nets.append(ipaddress.ip_network(net, strict=False))
            except ValueError:
                raise ValueError(f"allow_networks[{i}]: {net!r} is not a CIDR range") from None
        self.allow_networks: tuple[IPNetwork, ...] = tuple(nets)

    def verdict(self, ip: str) -> str | None:
        """Why ``ip`` (a canonical IPv4/IPv6 string) is refused, or None when it is allowed."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return "is not an IP address"
        return self._reason(addr)

    def check(self, ip: str, host: str | None = None) -> None:
        """Raise SsrfRefused (naming ``ip``, ``host`` and the reason) unless ``ip`` is allowed."""
        reason = self.verdict(ip)
        if reason is not None:
            raise SsrfRefused(ip, reason, host)

    def check_host(self, host: str) -> None:
        """Check a URL host that is an IP literal in any notation; names pass (they are checked
        when resolved and again when connected)."""
        addr = literal_address(host)
        if addr is None:
            return
        reason = self._reason(addr)
        if reason is not None:
            raise SsrfRefused(str(addr), reason, host)

    def socket_factory(self, addr_info: AddrInfo) -> socket.socket:
        """aiohttp's ``socket_factory`` hook: refuse before ``connect()`` to a refused address."""
        family, type_, proto, _, sockaddr = addr_info
        ip = str(sockaddr[0])
        reason = self.verdict(ip)
        if reason is not None:
            raise AddressRefused(SsrfRefused(ip, reason))
        return socket.socket(family=family, type=type_, proto=proto)

    def _allowed(self, addr: IPAddress) -> bool:
        for net in self.allow_networks:
            if addr.version == net.version and addr in net:
                return True
        return False

    def _reason(self, addr: IPAddress) -> str | None:
        if self._allowed(addr):
            return None
        if isinstance(addr, ipaddress.IPv6Address):
            embedded, kind = _embedded_v4(addr)
            if embedded is not None:
                inner = self._reason(embedded)
                return None if inner is None else f"is {kind} {embedded}, which {inner}"
        for net, reason in _TABLE:
            if addr.version == net.version and addr in net:
                return reason
        if not addr.is_global:
            return "is not globally routable"
        return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped, "IPv4-mapped"
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "NAT64 for"
    if addr in _SIXTOFOUR:
        return addr.sixtofour, "6to4 for"
    return None, ""


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host denotes when it is an IP literal, in any notation a C resolver
    (``inet_aton``) accepts: 1-4 dot-separated parts, each decimal, octal (leading 0) or hex
    (0x), the last part filling the remaining bytes; a trailing dot is allowed; IPv6 with or
    without brackets and zone. None for host names."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return None
    parts = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _inet_aton_part(part)
        if value is None:
            return None
        values.append(value)
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _inet_aton_part(part: str) -> int | None:
    if not part or not part.isascii():
        return None
    if part[:2] in ("0x", "0X"):
        digits = part[2:]
        if not all(c in _HEX for c in digits):
            return None
        return int(digits, 16) if digits else 0
    if not part.isdigit():
        return None
    if len(part) > 1 and part[0] == "0":
        return int(part, 8) if all(c in _OCTAL for c in part) else None
    return int(part)


_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (default: aiohttp's ThreadedResolver, i.e. getaddrinfo) and keeps
    only allowed addresses; raises SsrfRefused when none is left."""

    def __init__(self, policy: SsrfPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner
        self._owns_inner = inner is None

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refused: list[tuple[str, str]] = []
        for result in results:
            reason = self.policy.verdict(result["host"])
            if reason is None:
                kept.append(result)
            else:
                refused.append((result["host"], reason))
        if not kept:
            address, reason = refused[0] if refused else ("no address", "was returned")
            raise SsrfRefused(address, reason, host)
        if refused:
            log.warning("ssrf: %s also resolves to refused addresses, not used: %s", host,
                        ", ".join(f"{a} {r}" for a, r in refused))
        return kept

    async def close(self) -> None:
        if self._owns_inner and self._inner is not None:
            await self._inner.close()
