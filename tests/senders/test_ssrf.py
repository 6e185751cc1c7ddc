"""The SSRF guard: the table of refused ranges, every literal notation, resolution and the
connect-time backstop, against real sockets on loopback, and a labelled table of destinations
(ssrf_destinations.tsv) every layer must agree with."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from senders.client import HttpClient
from senders.curl import CurlClient
from senders.errors import InvalidUrl, SsrfRefused
from senders.special_addresses import REFUSED_BLOCKS
from senders.ssrf import AddressRefused, GuardedResolver, SsrfPolicy, literal_address
from senders.testing import FakeResolver
from senders.upstream import translate

from .conftest import LOOPBACK, LocalServer, PostClient


@pytest.mark.parametrize("ip, reason", [
    ("10.1.2.3", "is private"),
    ("172.16.0.1", "is private"),
    ("172.31.255.255", "is private"),
    ("192.168.1.1", "is private"),
    ("fd12:3456::1", "is private (unique local)"),
    ("127.0.0.1", "is loopback"),
    ("127.255.0.9", "is loopback"),
    ("::1", "is loopback"),
    ("169.254.1.1", "is link-local"),
    ("fe80::1", "is link-local"),
    ("fe80::1%eth0", "is link-local"),
    ("100.64.0.1", "is shared address space (CGNAT)"),
    ("100.127.255.254", "is shared address space (CGNAT)"),
    ("224.0.0.1", "is multicast"),
    ("239.255.255.250", "is multicast"),
    ("ff02::1", "is multicast"),
    ("0.0.0.0", "is unspecified"),
    ("0.1.2.3", "this network"),
    ("::", "is unspecified"),
    ("240.0.0.1", "is reserved"),
    ("255.255.255.255", "is broadcast"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.10", "documentation"),
    ("203.0.113.10", "documentation"),
    ("2001:db8::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("169.254.169.254", "is a cloud metadata address"),
    ("fd00:ec2::254", "is a cloud metadata address"),
    ("100.100.100.200", "is a cloud metadata address"),
    ("::ffff:127.0.0.1", "is IPv4-mapped: translated forms are refused (embedding 127.0.0.1)"),
    ("::ffff:8.8.8.8", "is IPv4-mapped: translated forms are refused (embedding 8.8.8.8)"),
    ("::ffff:0:8.8.8.8", "is IPv4-translated (SIIT): translated forms are refused (embedding 8.8.8.8)"),
    ("64:ff9b::10.0.0.1", "is NAT64: translated forms are refused (embedding 10.0.0.1)"),
    ("64:ff9b::8.8.8.8", "is NAT64: translated forms are refused (embedding 8.8.8.8)"),
    ("64:ff9b:1::808:808", "is local-use NAT64: translated forms are refused"),
    ("2002:808:808::1", "is 6to4: translated forms are refused (embedding 8.8.8.8)"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "is Teredo: translated forms are refused (embedding 192.0.2.45)"),
    ("2a00:1450:4001:80e:0:5efe:808:808",
     "has an ISATAP interface identifier: translated forms are refused (embedding 8.8.8.8)"),
    ("::127.0.0.1", "is IPv4-compatible (deprecated): translated forms are refused (embedding 127.0.0.1)"),
    ("192.0.0.100", "is reserved for IETF protocol assignments"),
    ("192.0.0.8", "is the IPv4 dummy address"),
    ("192.0.0.9", "is the PCP anycast address"),
    ("192.31.196.1", "is AS112 (reverse-DNS sink)"),
    ("192.175.48.1", "is AS112 (direct delegation)"),
    ("2620:4f:8000::1", "is AS112 (direct delegation)"),
    ("2001:4:112::1", "is AS112 (reverse-DNS sink)"),
    ("192.52.193.1", "is AMT (multicast tunnelling relays)"),
    ("2001:3::1", "is AMT (multicast tunnelling relays)"),
    ("168.63.129.16", "is a cloud metadata address"),
    ("f000::", "is outside 2000::/3, the only global unicast IPv6 space"),
    ("4000::", "is outside 2000::/3, the only global unicast IPv6 space"),
    ("1fff::", "is outside 2000::/3, the only global unicast IPv6 space"),
    ("ff::", "is outside 2000::/3, the only global unicast IPv6 space"),
    ("64:ff9c::808:808", "is outside 2000::/3, the only global unicast IPv6 space"),
    ("5f00::1", "is SRv6 segment identifier space"),
    ("3fff::1", "is reserved for documentation"),
])
def test_refused_ranges(ip: str, reason: str) -> None:
    policy = SsrfPolicy()
    verdict = policy.verdict(ip)
    assert verdict is not None and reason in verdict
    with pytest.raises(SsrfRefused) as info:
        policy.check_address(ip)
    assert str(info.value).startswith(ip) and info.value.address == ip


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111",
                                "2a00:1450::1", "172.32.0.1", "100.128.0.1", "198.20.0.1",
                                "2000::1", "3ffe::1"])
def test_public_addresses_pass(ip: str) -> None:
    policy = SsrfPolicy()
    assert policy.verdict(ip) is None
    assert policy.check_address(ip) is None
    assert policy.check_address(ipaddress.ip_address(ip)) is None


def test_check_address_names_the_host_and_refuses_non_addresses() -> None:
    policy = SsrfPolicy()
    with pytest.raises(SsrfRefused) as info:
        policy.check_address(ipaddress.ip_address("10.1.2.3"), host="hooks.example")
    assert str(info.value) == "hooks.example (10.1.2.3) is private"
    with pytest.raises(SsrfRefused, match="is not an IP address"):
        policy.check_address("hooks.example")


def test_every_registry_block_is_refused_at_both_ends() -> None:
    """Each block of the data (the IANA registries, metadata) is refused at its first and last
    address, with the most specific block's reason."""
    policy = SsrfPolicy()
    for block, reason, _source in REFUSED_BLOCKS:
        net = ipaddress.ip_network(block)
        for edge in (net.network_address, net.broadcast_address):
            verdict = policy.verdict(edge)
            assert verdict is not None, edge
            if net.prefixlen == net.max_prefixlen:
                assert verdict.startswith(reason), (edge, verdict)


def test_refused_is_a_superset_of_pythons_non_global() -> None:
    """Whatever Python's ipaddress calls non-global is refused too (our table is the stricter
    one: Python 3.11 calls f000:: and AS112 global)."""
    for block, _reason, _source in REFUSED_BLOCKS:
        net = ipaddress.ip_network(block)
        assert SsrfPolicy().verdict(net.network_address) is not None
    for text in ["::ffff:0:0/96", "100::/64", "2001::/23", "2001:2::/48", "2001:db8::/32",
                 "2001:10::/28", "fc00::/7", "fe80::/10", "0.0.0.0/8", "10.0.0.0/8",
                 "192.0.0.0/29", "192.0.0.170/31", "198.18.0.0/15", "240.0.0.0/4"]:
        net = ipaddress.ip_network(text)
        for edge in (net.network_address, net.broadcast_address):
            assert not edge.is_global and SsrfPolicy().verdict(edge) is not None, edge


def test_allowlist_overrides_named_ranges_only() -> None:
    policy = SsrfPolicy(LOOPBACK)
    assert policy.verdict("127.0.0.1") is None
    assert policy.verdict("::ffff:127.0.0.1") is None  # mapped: the kernel dials 127.0.0.1
    assert policy.verdict("::1") == "is loopback"
    assert policy.verdict("10.0.0.1") == "is private"
    assert policy.verdict("64:ff9b::127.0.0.1") is not None  # NAT64 goes through a translator
    assert SsrfPolicy(["10.0.0.0/8", "fd00::/8"]).verdict("fd00::5") is None
    assert SsrfPolicy(["fd00::/8"]).verdict("fd00:ec2::254") is None  # even metadata
    special = SsrfPolicy(["192.175.48.0/24", "64:ff9b::/96", "f000::/4", "2002::/16"])
    for ip in ("192.175.48.1", "64:ff9b::8.8.8.8", "f000::1", "2002:808:808::1"):
        assert special.verdict(ip) is None, ip
    assert special.verdict("192.31.196.1") == "is AS112 (reverse-DNS sink)"


def test_bad_allowlist_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"allow_networks\[1\]: 'nope'"):
        SsrfPolicy(["10.0.0.0/8", "nope"])


@pytest.mark.parametrize("host, address", [
    ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"), ("0x7F000001", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"), ("127.000.000.001", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"),
    ("0", "0.0.0.0"), ("::1", "::1"), ("[::1]", "::1"), ("::ffff:7f00:1", "::ffff:7f00:1"),
    ("example.com", None), ("1.2.3.4.5", None), ("256.1.1.1", None), ("08.1.1.1", None),
    ("0x7g.0.0.1", None), ("1e3", None), ("", None),
])
def test_literal_notations(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (None if found is None else str(found)) == address


LITERAL_FORMS = [
    ("http://127.0.0.1/", "127.0.0.1 is loopback"),
    ("http://2130706433/", "2130706433 (127.0.0.1) is loopback"),
    ("http://0177.0.0.1/", "0177.0.0.1 (127.0.0.1) is loopback"),
    ("http://0x7f.0.0.1/", "0x7f.0.0.1 (127.0.0.1) is loopback"),
    ("http://127.1/", "127.1 (127.0.0.1) is loopback"),
    ("http://[::1]/", "::1 is loopback"),
    ("http://[::ffff:127.0.0.1]/",
     "::ffff:7f00:1 is IPv4-mapped: translated forms are refused (embedding 127.0.0.1)"),
    ("http://[64:ff9b::8.8.8.8]/",
     "64:ff9b::808:808 is NAT64: translated forms are refused (embedding 8.8.8.8)"),
    ("http://[f000::1]/", "f000::1 is outside 2000::/3, the only global unicast IPv6 space"),
    ("http://192.175.48.1/", "192.175.48.1 is AS112 (direct delegation)"),
    ("http://0300.0257.060.01/", "0300.0257.060.01 (192.175.48.1) is AS112 (direct delegation)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("https://10.0.0.5:8443/hook", "10.0.0.5 is private"),
    ("http://0/", "0 (0.0.0.0) is unspecified"),
]


@pytest.mark.parametrize("url, message", LITERAL_FORMS)
async def test_client_refuses_every_literal_form(url: str, message: str,
                                                 client_class: type[PostClient]) -> None:
    async with client_class(SsrfPolicy()) as client:
        with pytest.raises(SsrfRefused) as info:
            await client.post(url, b"{}", {}, timeout_s=1)
        assert str(info.value) == message
        if isinstance(client, HttpClient):
            with pytest.raises(SsrfRefused):
                await client.get(url, max_bytes=100, timeout_s=1)


async def test_allowlisted_loopback_connects(server: LocalServer, client_class: type[PostClient]) -> None:
    async with client_class(SsrfPolicy(LOOPBACK)) as client:
        response = await client.post(server.url(), b"{}", {}, timeout_s=5)
    assert response.status == 204 and len(server.seen) == 1


async def test_non_canonical_literal_is_invalid_even_when_allowed(server: LocalServer, client_class: type[PostClient]) -> None:
    async with client_class(SsrfPolicy(LOOPBACK)) as client:
        with pytest.raises(InvalidUrl, match="non-canonical IPv4 address"):
            await client.post(f"http://2130706433:{server.port}/", b"{}", {}, timeout_s=5)
    assert server.seen == []


async def test_hostname_resolving_to_private_address_is_refused(server: LocalServer, client_class: type[PostClient]) -> None:
    resolver = FakeResolver({"hooks.example": ["10.0.0.5"]})
    async with client_class(SsrfPolicy(LOOPBACK), resolver=resolver) as client:
        with pytest.raises(SsrfRefused) as info:
            await client.post(f"http://hooks.example:{server.port}/", b"{}", {}, timeout_s=5)
    assert str(info.value) == "hooks.example (10.0.0.5) is private"
    assert info.value.host == "hooks.example"


async def test_mixed_answer_connects_only_to_the_allowed_address(server: LocalServer, client_class: type[PostClient]) -> None:
    # 127.0.0.1 stands in for a public address (allowlisted); 10.0.0.5 is dropped, not tried
    resolver = FakeResolver({"mixed.example": ["10.0.0.5", "127.0.0.1"]})
    guarded = GuardedResolver(SsrfPolicy(LOOPBACK), resolver)
    assert [r["host"] for r in await guarded.resolve("mixed.example", 80)] == ["127.0.0.1"]
    async with client_class(SsrfPolicy(LOOPBACK), resolver=resolver) as client:
        response = await client.post(f"http://mixed.example:{server.port}/", b"{}", {}, timeout_s=5)
    assert response.status == 204 and len(server.seen) == 1


async def test_dns_rebinding_after_first_connection_is_refused(server: LocalServer, client_class: type[PostClient]) -> None:
    resolver = FakeResolver({"rebind.example": ["127.0.0.1"]})
    url = f"http://rebind.example:{server.port}/"
    async with client_class(SsrfPolicy(LOOPBACK), resolver=resolver, ttl_dns_cache_s=0,
                          keepalive_s=0.001) as client:
        assert (await client.post(url, b"{}", {"Connection": "close"}, timeout_s=5)).status == 204
        resolver.hosts["rebind.example"] = ["169.254.169.254"]
        with pytest.raises(SsrfRefused, match=r"rebind.example \(169.254.169.254\) is a cloud metadata"):
            await client.post(url, b"{}", {"Connection": "close"}, timeout_s=5)
    assert len(server.seen) == 1 and resolver.calls == ["rebind.example", "rebind.example"]


async def test_connect_time_check_holds_without_the_url_check_and_resolver(server: LocalServer) -> None:
    """The socket factory alone refuses: a literal (aiohttp skips resolvers for literals) and a
    name resolved by an unguarded resolver never reach the server."""
    policy = SsrfPolicy()
    resolver = FakeResolver({"evil.example": ["127.0.0.1"]})
    connector = aiohttp.TCPConnector(socket_factory=policy.socket_factory, resolver=resolver,
                                     use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for url in (server.url(), f"http://evil.example:{server.port}/"):
            with pytest.raises(aiohttp.ClientConnectorError) as info:
                await session.get(url)
            assert isinstance(info.value.os_error, AddressRefused)
            ours = translate(info.value, url)
            assert isinstance(ours, SsrfRefused) and str(ours) == "127.0.0.1 is loopback"
    assert server.seen == []


async def test_guarded_resolver_with_nothing_left() -> None:
    guarded = GuardedResolver(SsrfPolicy(), FakeResolver({"a.example": ["10.0.0.1", "192.168.0.1"]}))
    with pytest.raises(SsrfRefused, match=r"a.example \(10.0.0.1\) is private"):
        await guarded.resolve("a.example", 443)
    await guarded.close()


async def test_real_resolver_answer_for_localhost_is_refused(server: LocalServer, client_class: type[PostClient]) -> None:
    """No fake: getaddrinfo (aiohttp's ThreadedResolver) answers, the guard refuses."""
    async with client_class(SsrfPolicy()) as client:
        with pytest.raises(SsrfRefused, match=r"^localhost \((127\.0\.0\.1|::1)\) is loopback$"):
            await client.post(f"http://localhost:{server.port}/", b"{}", {}, timeout_s=5)
    assert server.seen == []


# -- the labelled destination table ------------------------------------------------------------

@dataclass(frozen=True)
class Destination:
    """One row of ssrf_destinations.tsv."""

    expect: str
    host: str
    answers: tuple[str, ...]  # for names: what the fake resolver says ('!' = must be dropped)
    why: str

    @property
    def is_name(self) -> bool:
        return bool(self.answers)

    def url(self) -> str:
        return f"http://{self.host}/"


def _load_table() -> list[Destination]:
    rows = []
    for line in (Path(__file__).parent / "ssrf_destinations.tsv").read_text("utf-8").splitlines():
        if line.startswith("#") or line.startswith("expect\t"):
            continue
        expect, host, answers, why = line.split("\t")
        rows.append(Destination(expect, host, () if answers == "-" else tuple(answers.split()), why))
    return rows


TABLE = _load_table()
DENY = [row for row in TABLE if row.expect == "deny"]
ALLOW = [row for row in TABLE if row.expect == "allow"]


def _meant(row: Destination) -> list[str]:
    """The addresses a literal row denotes, read independently of senders.ssrf: the C
    resolver's inet_aton for IPv4 spellings (after yarl's IDNA folding), ipaddress for IPv6."""
    host = URL(row.url()).raw_host or ""
    if ":" in host:
        return [host]
    return [socket.inet_ntoa(socket.inet_aton(host.rstrip(".")))]


def _addr_info(ip: str) -> Any:
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, 80, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 80))


def test_table_is_large_labelled_and_unique() -> None:
    assert len(TABLE) >= 250 and len(DENY) >= 150 and len(ALLOW) >= 60
    assert {row.expect for row in TABLE} == {"deny", "allow"}
    assert len({row.host for row in TABLE}) == len(TABLE)


@pytest.mark.parametrize("row", DENY, ids=[row.host for row in DENY])
async def test_every_deny_destination_is_refused(row: Destination,
                                                 client_class: type[PostClient]) -> None:
    """Each whole client refuses before sending a byte, and the connect-time backstop alone
    refuses every address the destination denotes (resolver and URL check bypassed)."""
    policy = SsrfPolicy()
    resolver = FakeResolver({row.host: row.answers} if row.is_name else {})
    async with client_class(policy, resolver=resolver) as client:
        with pytest.raises(SsrfRefused):
            await client.post(row.url(), b"{}", {}, timeout_s=2)
    for ip in row.answers or _meant(row):
        with pytest.raises(AddressRefused):
            policy.socket_factory(_addr_info(ip.lstrip("!")))


@pytest.mark.parametrize("row", ALLOW, ids=[row.host for row in ALLOW])
async def test_every_allow_destination_is_allowed(row: Destination) -> None:
    """Every layer lets it through: the URL check, the resolver (keeping exactly the answers
    not marked '!') and the socket factory for each address kept."""
    policy = SsrfPolicy()
    host = URL(row.url()).raw_host or ""
    policy.check_host(host)
    if row.is_name:
        guarded = GuardedResolver(policy, FakeResolver({host: [a.lstrip("!") for a in row.answers]}))
        kept = [result["host"] for result in await guarded.resolve(host, 443)]
        assert kept == [a for a in row.answers if not a.startswith("!")]
    else:
        kept = _meant(row)
    for ip in kept:
        policy.check_address(ip)
        policy.socket_factory(_addr_info(ip)).close()
        # an independent opinion: Python's ipaddress agrees the address is global
        assert ipaddress.ip_address(ip).is_global, ip


async def test_curl_connect_time_check_holds_without_the_url_check(
        server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """libcurl's open-socket callback alone refuses: the URL check is switched off, the
    literal and the name (libcurl's own resolver answers for localhost) never reach the
    server."""
    monkeypatch.setattr(SsrfPolicy, "check_host", lambda self, host: None)
    async with CurlClient(SsrfPolicy()) as client:
        for url, shown in ((server.url(), "127.0.0.1 (127.0.0.1)"),
                           (f"http://localhost:{server.port}/", "localhost (")):
            with pytest.raises(SsrfRefused) as info:
                await client.post(url, b"{}", {}, timeout_s=5)
            assert str(info.value).startswith(shown.split(" (")[0])
            assert "is loopback" in str(info.value)
    assert server.seen == []
