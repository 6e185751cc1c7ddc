"""The address blocks the SSRF guard refuses, as data, and the lookup that names the reason.

Sources, transcribed by hand (each block with its RFC):

- the IANA IPv4 Special-Purpose Address Registry and the IANA IPv6 Special-Purpose Address
  Registry (RFC 6890, updated by RFC 8190), transcribed from the versions that list 5f00::/16
  (RFC 9602, October 2024) and, in IPv6, the later dummy prefix 100:0:0:1::/64 (the IPv4
  registry's newest entries are 192.0.0.170/31, RFC 8880, 2020): every entry is refused,
  whether the registry marks it "globally reachable" or not, because none of them is a place a
  webhook receiver lives (anycast protocol services, AS112 sinks, AMT relays, ORCHID and DRIP
  identifiers, translation prefixes);
- the IANA IPv4 Address Space Registry for multicast (224.0.0.0/4);
- the IANA IPv6 Address Space Registry: only 2000::/3 is global unicast (RFC 4291 section 2.4),
  so every address outside it is refused, whatever Python's ``is_global`` says;
- cloud providers' metadata services (their own documentation), including the one that sits in
  public space (Azure's WireServer, 168.63.129.16).

Translated forms are refused whatever IPv4 address they embed: IPv4-mapped, IPv4-compatible and
SIIT (outside 2000::/3), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16), Teredo
(2001::/32) and ISATAP-style interface identifiers (``::0:5efe:a.b.c.d`` / ``::200:5efe:a.b.c.d``
under any /64). A translator or relay would carry the connection somewhere we cannot see, so the
embedded address is named in the reason but never makes the address acceptable.

Not detectable, so not refused: NAT64 with a network-specific prefix and 6rd (both use an
operator's own global prefix). To refuse them, list nothing here: the operator who runs them
knows the prefix and can firewall it.
"""
from __future__ import annotations

import functools
import ipaddress

__all__ = ["IPAddress", "IPNetwork", "REFUSED_BLOCKS", "refusal_reason"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = "is a cloud metadata address"
_DOCS = "is reserved for documentation"
_PRIVATE = "is private"
_TRANSLATED = "translated forms are refused"

#: (block, reason, source). Looked up most specific first, so 192.0.0.9 is named "PCP anycast"
#: although 192.0.0.0/24 also holds it.
REFUSED_BLOCKS: tuple[tuple[str, str, str], ...] = (
    # -- cloud metadata services -------------------------------------------------------------
    ("169.254.169.254/32", _METADATA, "AWS, GCP, Azure, OCI, DigitalOcean, OpenStack"),
    ("169.254.170.2/32", _METADATA, "AWS ECS task metadata"),
    ("169.254.170.23/32", _METADATA, "AWS EKS pod identity agent"),
    ("100.100.100.200/32", _METADATA, "Alibaba Cloud"),
    ("168.63.129.16/32", _METADATA, "Azure WireServer (public space)"),
    ("192.0.0.192/32", _METADATA, "Oracle Cloud (legacy)"),
    ("fd00:ec2::254/128", _METADATA, "AWS IMDS over IPv6"),
    ("fd00:ec2::23/128", _METADATA, "AWS EKS pod identity agent over IPv6"),
    ("fd20:ce::254/128", _METADATA, "GCP metadata over IPv6"),
    # -- IANA IPv4 Special-Purpose Address Registry ----------------------------------------
    ("0.0.0.0/8", "is in 'this network' (0.0.0.0/8)", "RFC 791"),
    ("0.0.0.0/32", "is unspecified", "RFC 1122"),
    ("10.0.0.0/8", _PRIVATE, "RFC 1918"),
    ("100.64.0.0/10", "is shared address space (CGNAT)", "RFC 6598"),
    ("127.0.0.0/8", "is loopback", "RFC 1122"),
    ("169.254.0.0/16", "is link-local", "RFC 3927"),
    ("172.16.0.0/12", _PRIVATE, "RFC 1918"),
    ("192.0.0.0/24", "is reserved for IETF protocol assignments", "RFC 6890"),
    ("192.0.0.0/29", "is the IPv4 service continuity prefix (DS-Lite)", "RFC 7335"),
    ("192.0.0.8/32", "is the IPv4 dummy address", "RFC 7600"),
    ("192.0.0.9/32", "is the PCP anycast address", "RFC 7723"),
    ("192.0.0.10/32", "is the TURN anycast address", "RFC 8155"),
    ("192.0.0.170/31", "is a NAT64/DNS64 discovery address", "RFC 7050, RFC 8880"),
    ("192.0.2.0/24", _DOCS, "RFC 5737 TEST-NET-1"),
    ("192.31.196.0/24", "is AS112 (reverse-DNS sink)", "RFC 7535"),
    ("192.52.193.0/24", "is AMT (multicast tunnelling relays)", "RFC 7450"),
    ("192.88.99.0/24", "is the deprecated 6to4 relay anycast block", "RFC 7526"),
    ("192.88.99.2/32", "is the 6a44 relay anycast address", "RFC 6751"),
    ("192.168.0.0/16", _PRIVATE, "RFC 1918"),
    ("192.175.48.0/24", "is AS112 (direct delegation)", "RFC 7534"),
    ("198.18.0.0/15", "is reserved for benchmarking", "RFC 2544"),
    ("198.51.100.0/24", _DOCS, "RFC 5737 TEST-NET-2"),
    ("203.0.113.0/24", _DOCS, "RFC 5737 TEST-NET-3"),
    ("240.0.0.0/4", "is reserved", "RFC 1112"),
    ("255.255.255.255/32", "is broadcast", "RFC 919"),
    # -- IANA IPv4 Address Space Registry -------------------------------------------------
    ("224.0.0.0/4", "is multicast", "RFC 5771"),
    # -- IANA IPv6 Special-Purpose Address Registry ----------------------------------------
    ("::1/128", "is loopback", "RFC 4291"),
    ("::/128", "is unspecified", "RFC 4291"),
    ("::ffff:0:0/96", f"is IPv4-mapped: {_TRANSLATED}", "RFC 4291"),
    ("64:ff9b::/96", f"is NAT64: {_TRANSLATED}", "RFC 6052"),
    ("64:ff9b:1::/48", f"is local-use NAT64: {_TRANSLATED}", "RFC 8215"),
    ("100::/64", "is discard-only", "RFC 6666"),
    ("100:0:0:1::/64", "is the dummy IPv6 prefix", "IANA IPv6 special-purpose registry"),
    ("2001::/23", "is reserved for IETF protocol assignments", "RFC 2928"),
    ("2001::/32", f"is Teredo: {_TRANSLATED}", "RFC 4380, RFC 8190"),
    ("2001:1::1/128", "is the PCP anycast address", "RFC 7723"),
    ("2001:1::2/128", "is the TURN anycast address", "RFC 8155"),
    ("2001:1::3/128", "is the DNS-SD service registration anycast address", "RFC 9665"),
    ("2001:2::/48", "is reserved for benchmarking", "RFC 5180"),
    ("2001:3::/32", "is AMT (multicast tunnelling relays)", "RFC 7450"),
    ("2001:4:112::/48", "is AS112 (reverse-DNS sink)", "RFC 7535"),
    ("2001:10::/28", "is ORCHID (deprecated)", "RFC 4843"),
    ("2001:20::/28", "is ORCHIDv2 (identifiers, not locators)", "RFC 7343"),
    ("2001:30::/28", "is DRIP entity tags (identifiers, not locators)", "RFC 9374"),
    ("2001:db8::/32", _DOCS, "RFC 3849"),
    ("2002::/16", f"is 6to4: {_TRANSLATED}", "RFC 3056"),
    ("2620:4f:8000::/48", "is AS112 (direct delegation)", "RFC 7534"),
    ("3fff::/20", _DOCS, "RFC 9637"),
    ("5f00::/16", "is SRv6 segment identifier space", "RFC 9602"),
    ("fc00::/7", "is private (unique local)", "RFC 4193"),
    ("fe80::/10", "is link-local", "RFC 4291"),
    # -- outside 2000::/3 but named, for a clearer reason than "not global unicast" -------
    ("::/96", f"is IPv4-compatible (deprecated): {_TRANSLATED}", "RFC 4291"),
    ("::ffff:0:0:0/96", f"is IPv4-translated (SIIT): {_TRANSLATED}", "RFC 2765"),
    ("fec0::/10", "is site-local (deprecated)", "RFC 3879"),
    ("ff00::/8", "is multicast", "RFC 4291"),
)

_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_NOT_GLOBAL_UNICAST = "is outside 2000::/3, the only global unicast IPv6 space"
_ISATAP = f"has an ISATAP interface identifier: {_TRANSLATED}"

_BY_VERSION: dict[int, tuple[tuple[IPNetwork, str], ...]] = {
    version: tuple(sorted(
        ((net, reason) for net, reason in
         ((ipaddress.ip_network(block), reason) for block, reason, _ in REFUSED_BLOCKS)
         if net.version == version),
        key=lambda entry: -entry[0].prefixlen))
    for version in (4, 6)
}


@functools.lru_cache(maxsize=4096)  # a pure function of the address; senders dial few of them
def refusal_reason(addr: IPAddress) -> str | None:
    """Why ``addr`` is refused (``"is loopback"``, ``"is NAT64: translated forms are refused
    (embedding 8.8.8.8)"``), or None when it may be connected to. No allowlist here: that is
    :class:`senders.ssrf.SsrfPolicy`'s business."""
    for net, reason in _BY_VERSION[addr.version]:
        if addr in net:
            return reason + _embedding(addr) if _TRANSLATED in reason else reason
    if isinstance(addr, ipaddress.IPv6Address):
        if addr not in _GLOBAL_UNICAST:
            return _NOT_GLOBAL_UNICAST
        if _is_isatap(addr):
            return _ISATAP + _embedding(addr)
    return None


def _is_isatap(addr: ipaddress.IPv6Address) -> bool:
    """RFC 5214: the interface identifier is 0000:5efe or 0200:5efe (u/g bits aside) followed
    by the IPv4 address, under any /64."""
    return (int(addr) >> 32) & 0xFCFF_FFFF == 0x0000_5EFE


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translated form carries, for the reason text: the last 32 bits
    (mapped, compatible, SIIT, NAT64 /96, ISATAP), 6to4's bits 16-47, Teredo's de-obfuscated
    client; None for local-use NAT64, whose prefix length (and so layout) is the operator's."""
    if addr in _LOCAL_NAT64:
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]  # the client's address, de-obfuscated
    return ipaddress.IPv4Address(int(addr) & 0xFFFF_FFFF)


def _embedding(addr: IPAddress) -> str:
    inner = _embedded_ipv4(addr) if isinstance(addr, ipaddress.IPv6Address) else None
    return "" if inner is None else f" (embedding {inner})"
