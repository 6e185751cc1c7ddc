"""The SSRF guard: the table of refused ranges, every literal notation, resolution and the
connect-time backstop, against real sockets on loopback."""
from __future__ import annotations

import aiohttp
import pytest

from senders.client import HttpClient
from senders.errors import InvalidUrl, SsrfRefused
from senders.ssrf import AddressRefused, GuardedResolver, SsrfPolicy, literal_address
from senders.testing import FakeResolver
from senders.upstream import translate

from .conftest import LOOPBACK, LocalServer


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
    ("::ffff:127.0.0.1", "is IPv4-mapped 127.0.0.1, which is loopback"),
    ("::ffff:169.254.169.254", "is IPv4-mapped 169.254.169.254, which is a cloud metadata"),
    ("64:ff9b::10.0.0.1", "is NAT64 for 10.0.0.1, which is private"),
    ("2002:a9fe:a9fe::1", "is 6to4 for 169.254.169.254, which is a cloud metadata"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("192.0.0.8", "IETF"),
])
def test_refused_ranges(ip: str, reason: str) -> None:
    policy = SsrfPolicy()
    verdict = policy.verdict(ip)
    assert verdict is not None and reason in verdict
    with pytest.raises(SsrfRefused) as info:
        policy.check(ip)
    assert str(info.value).startswith(ip) and info.value.address == ip


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111",
                                "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
                                "172.32.0.1", "100.128.0.1", "198.20.0.1"])
def test_public_addresses_pass(ip: str) -> None:
    assert SsrfPolicy().verdict(ip) is None


def test_allowlist_overrides_named_ranges_only() -> None:
    policy = SsrfPolicy(LOOPBACK)
    assert policy.verdict("127.0.0.1") is None
    assert policy.verdict("::ffff:127.0.0.1") is None  # the embedded address is allowlisted
    assert policy.verdict("::1") == "is loopback"
    assert policy.verdict("10.0.0.1") == "is private"
    assert SsrfPolicy(["10.0.0.0/8", "fd00::/8"]).verdict("fd00::5") is None


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
    ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1 is IPv4-mapped 127.0.0.1, which is loopback"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("https://10.0.0.5:8443/hook", "10.0.0.5 is private"),
    ("http://0/", "0 (0.0.0.0) is unspecified"),
]


@pytest.mark.parametrize("url, message", LITERAL_FORMS)
async def test_client_refuses_every_literal_form(url: str, message: str) -> None:
    async with HttpClient(SsrfPolicy()) as client:
        with pytest.raises(SsrfRefused) as info:
            await client.post(url, b"{}", {}, timeout_s=1)
        assert str(info.value) == message
        with pytest.raises(SsrfRefused):
            await client.get(url, max_bytes=100, timeout_s=1)


async def test_allowlisted_loopback_connects(server: LocalServer) -> None:
    async with HttpClient(SsrfPolicy(LOOPBACK)) as client:
        response = await client.post(server.url(), b"{}", {}, timeout_s=5)
    assert response.status == 204 and len(server.seen) == 1


async def test_non_canonical_literal_is_invalid_even_when_allowed(server: LocalServer) -> None:
    async with HttpClient(SsrfPolicy(LOOPBACK)) as client:
        with pytest.raises(InvalidUrl, match="non-canonical IPv4 address"):
            await client.post(f"http://2130706433:{server.port}/", b"{}", {}, timeout_s=5)
    assert server.seen == []


async def test_hostname_resolving_to_private_address_is_refused(server: LocalServer) -> None:
    resolver = FakeResolver({"hooks.example": ["10.0.0.5"]})
    async with HttpClient(SsrfPolicy(LOOPBACK), resolver=resolver) as client:
        with pytest.raises(SsrfRefused) as info:
            await client.post(f"http://hooks.example:{server.port}/", b"{}", {}, timeout_s=5)
    assert str(info.value) == "hooks.example (10.0.0.5) is private"
    assert info.value.host == "hooks.example"


async def test_mixed_answer_connects_only_to_the_allowed_address(server: LocalServer) -> None:
    # 127.0.0.1 stands in for a public address (allowlisted); 10.0.0.5 is dropped, not tried
    resolver = FakeResolver({"mixed.example": ["10.0.0.5", "127.0.0.1"]})
    guarded = GuardedResolver(SsrfPolicy(LOOPBACK), resolver)
    assert [r["host"] for r in await guarded.resolve("mixed.example", 80)] == ["127.0.0.1"]
    async with HttpClient(SsrfPolicy(LOOPBACK), resolver=resolver) as client:
        response = await client.post(f"http://mixed.example:{server.port}/", b"{}", {}, timeout_s=5)
    assert response.status == 204 and len(server.seen) == 1


async def test_dns_rebinding_after_first_connection_is_refused(server: LocalServer) -> None:
    resolver = FakeResolver({"rebind.example": ["127.0.0.1"]})
    url = f"http://rebind.example:{server.port}/"
    async with HttpClient(SsrfPolicy(LOOPBACK), resolver=resolver, ttl_dns_cache_s=0,
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


async def test_real_resolver_answer_for_localhost_is_refused(server: LocalServer) -> None:
    """No fake: getaddrinfo (aiohttp's ThreadedResolver) answers, the guard refuses."""
    async with HttpClient(SsrfPolicy()) as client:
        with pytest.raises(SsrfRefused, match=r"^localhost \((127\.0\.0\.1|::1)\) is loopback$"):
            await client.post(f"http://localhost:{server.port}/", b"{}", {}, timeout_s=5)
    assert server.seen == []
