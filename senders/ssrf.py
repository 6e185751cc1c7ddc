"""The SSRF guard: which addresses we may connect to, checked on the address actually dialled.

What is refused is data, in :mod:`senders.special_addresses`: every block of the IANA IPv4 and
IPv6 special-purpose registries, IPv4 multicast, every IPv6 address outside 2000::/3, every
translated form (IPv4-mapped, -compatible, SIIT, NAT64, 6to4, Teredo, ISATAP-style) whatever
IPv4 address it embeds, and cloud metadata addresses.

:meth:`SsrfPolicy.check_address` is the one decision; three checks apply it, each enough on its
own for the case it covers:

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
   Another HTTP client (libcurl's open-socket callback, say) calls ``check_address`` at the same
   point.

Allowlisted networks (``allow_networks``, CIDR) override every refusal, including metadata
addresses inside them; an IPv4-mapped address is also allowed when the IPv4 address it maps is
(the kernel sends IPv4 packets to exactly that address). Tests allowlist ``127.0.0.0/8``.
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
from .special_addresses import IPAddress, IPNetwork, refusal_reason

__all__ = ["AddressRefused", "GuardedResolver", "SsrfPolicy", "literal_address"]

log = logging.getLogger(__name__)

AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]]


class AddressRefused(OSError):
    """Raised inside aiohttp's connect step; carries the SsrfRefused for the one boundary."""

    def __init__(self, refusal: SsrfRefused) -> None:
        super().__init__(errno.EACCES, str(refusal))
        self.refusal = refusal


class SsrfPolicy:
    """Which addresses outgoing calls may connect to: everything but the blocks in
    :mod:`senders.special_addresses`, unless ``allow_networks`` (CIDR strings) names them.
    A bad CIDR raises ValueError naming ``allow_networks[i]``."""

    def __init__(self, allow_networks: Sequence[str] = ()) -> None:
        nets: list[IPNetwork] = []
        for i, net in enumerate(allow_networks):
            try:
                nets.append(ipaddress.ip_network(net, strict=False))
            except ValueError:
                raise ValueError(f"allow_networks[{i}]: {net!r} is not a CIDR range") from None
        self.allow_networks: tuple[IPNetwork, ...] = tuple(nets)

    def check_address(self, ip: str | IPAddress, host: str | None = None) -> None:
        """The decision, for the address about to be connected to: returns None when ``ip`` (an
        IPv4/IPv6 address or its canonical text, an IPv6 zone allowed) may be connected to, else
        raises SsrfRefused naming ``ip``, ``host`` (the name it came from, if any) and why.
        Text that is not an IP address is refused too."""
        reason = self.verdict(ip)
        if reason is not None:
            raise SsrfRefused(str(ip), reason, host)

    def verdict(self, ip: str | IPAddress) -> str | None:
        """Why ``ip`` is refused, or None when it is allowed (the non-raising check_address)."""
        if isinstance(ip, str):
            try:
                addr: IPAddress = ipaddress.ip_address(ip)
            except ValueError:
                return "is not an IP address"
        else:
            addr = ip
        if self._allowed(addr):
            return None
        return refusal_reason(addr)

    def check_host(self, host: str) -> None:
        """Check a URL host that is an IP literal in any notation; names pass (they are checked
        when resolved and again when connected)."""
        addr = literal_address(host)
        if addr is None:
            return
        reason = self.verdict(addr)
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
        if not self.allow_networks:
            return False
        candidates: list[IPAddress] = [addr]
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            candidates.append(addr.ipv4_mapped)
        return any(a.version == net.version and a in net
                   for a in candidates for net in self.allow_networks)


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
