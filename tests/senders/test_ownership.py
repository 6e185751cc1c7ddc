"""Ownership validation: the file method against real aiohttp servers on loopback, candidate
URLs, challenges, and the DNS method with the in-memory resolver and with aiodns against a real
(tiny) DNS server on loopback."""
from __future__ import annotations

import asyncio
import re
import socket
import struct
from typing import AsyncIterator, cast

import pytest
from aiohttp import web

from senders.client import HttpClient
from senders.errors import DnsError, InvalidUrl
from senders.ownership import (
    AiodnsTxtResolver,
    OwnershipCheck,
    StaticTxtResolver,
    candidate_urls,
    check_dns,
    check_file,
    new_challenge,
)
from senders.ssrf import SsrfPolicy

from .conftest import LocalServer, ServerFactory

NAME = "feedbackloop-0123456789abcdef.txt"
CONTENT = "5f0c8a1e9d2b4c6a8e0f1a3b5c7d9e1f"


@pytest.fixture
def client(http_client: HttpClient) -> HttpClient:
    """Ownership validation GETs through the aiohttp client (libcurl's is POST-only)."""
    return http_client


async def site(server_factory: ServerFactory, served: dict[str, bytes],
               redirects: dict[str, str] | None = None) -> LocalServer:
    """A real server answering ``served`` paths with their bytes, ``redirects`` with a 302 to
    the given Location, and anything else with 404."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if redirects and request.path in redirects:
            raise web.HTTPFound(redirects[request.path])
        if request.path in served:
            return web.Response(body=served[request.path], content_type="text/plain")
        raise web.HTTPNotFound()

    return await server_factory(answer)


# -- the file method ---------------------------------------------------------------------------

async def test_valid_with_the_file_at_the_web_root(client: HttpClient,
                                                   server_factory: ServerFactory) -> None:
    server = await site(server_factory, {f"/{NAME}": CONTENT.encode()})
    result = await check_file(client, server.url("/hooks/receive.php?x=1"), NAME, CONTENT)
    assert result.valid and result.url == server.url(f"/{NAME}")
    assert result.checks == [OwnershipCheck(server.url(f"/{NAME}"), True, 200, None)]
    assert [s.path for s in server.seen] == [f"/{NAME}"]  # stops at the first success


async def test_valid_with_the_file_in_the_scripts_directory(client: HttpClient,
                                                            server_factory: ServerFactory) -> None:
    server = await site(server_factory, {f"/hooks/{NAME}": CONTENT.encode() + b"\n"})
    result = await check_file(client, server.url("/hooks/receive.php"), NAME, CONTENT)
    assert result.valid and result.url == server.url(f"/hooks/{NAME}")
    root, there = result.checks
    assert (root.ok, root.status, root.problem) == (False, 404, "404 Not Found")
    assert (there.ok, there.status, there.problem) == (True, 200, None)
    assert root.as_dict() == {"url": server.url(f"/{NAME}"), "ok": False, "status": 404,
                              "problem": "404 Not Found"}


@pytest.mark.parametrize(("body", "ok"), [
    (CONTENT.encode(), True),
    (CONTENT.encode() + b"\n", True),
    (b"  \r\n" + CONTENT.encode() + b" \r\n\t", True),
    (b"\xef\xbb\xbf" + CONTENT.encode() + b"\r\n", True),  # a UTF-8 byte-order mark
    (CONTENT.encode() + b"d", False),
    (CONTENT.upper().encode(), False),
    (CONTENT[:-1].encode(), False),
    (b"", False),
    (b"<html>" + CONTENT.encode() + b"</html>", False),
    ((CONTENT[:4] + " " + CONTENT[4:]).encode(), False),
])
async def test_content_must_match_exactly_but_for_surrounding_whitespace(
        client: HttpClient, server_factory: ServerFactory, body: bytes, ok: bool) -> None:
    server = await site(server_factory, {f"/{NAME}": body})
    result = await check_file(client, server.url("/receive.php"), NAME, CONTENT)
    assert result.valid is ok
    assert [c.problem for c in result.checks] == [None if ok else "content does not match"]


async def test_wrong_content_everywhere_is_invalid(client: HttpClient,
                                                   server_factory: ServerFactory) -> None:
    server = await site(server_factory, {f"/{NAME}": b"abc", f"/hooks/{NAME}": b"not it"})
    result = await check_file(client, server.url("/hooks/"), NAME, CONTENT)
    assert not result.valid and result.url is None
    assert [(c.ok, c.status, c.problem) for c in result.checks] == [
        (False, 200, "content does not match")] * 2


async def test_404_everywhere_is_invalid(client: HttpClient, server_factory: ServerFactory) -> None:
    server = await site(server_factory, {})
    result = await check_file(client, server.url("/a/b/receive.php"), NAME, CONTENT)
    assert not result.valid
    assert [c.url for c in result.checks] == [server.url(f"/{NAME}"), server.url(f"/a/b/{NAME}")]
    assert {c.problem for c in result.checks} == {"404 Not Found"}


async def test_a_body_that_is_not_utf8_is_invalid(client: HttpClient,
                                                  server_factory: ServerFactory) -> None:
    server = await site(server_factory, {f"/{NAME}": CONTENT.encode() + b"\xff"})
    result = await check_file(client, server.url("/"), NAME, CONTENT)
    assert not result.valid and result.checks[0].problem == "body is not UTF-8 text"


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_invalid(client: HttpClient, server_factory: ServerFactory,
                                                chunked: bool) -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        body = CONTENT.encode() + b" " * 5000  # would match, were it small enough
        if not chunked:
            return web.Response(body=body)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    server = await server_factory(big)
    result = await check_file(client, server.url("/receive.php"), NAME, CONTENT)
    assert not result.valid
    assert result.checks == [OwnershipCheck(server.url(f"/{NAME}"), False, None,
                                            "body is over 4096 bytes")]
    assert (await check_file(client, server.url("/"), NAME, CONTENT, max_bytes=6000)).valid


async def test_a_same_origin_redirect_is_refused(client: HttpClient,
                                               server_factory: ServerFactory) -> None:
    """The file must be at one of the two URLs: a 302 to the file elsewhere on the same origin
    proves nothing (the old client followed it and validated)."""
    server = await site(server_factory, {f"/files/{NAME}": CONTENT.encode()},
                        {f"/{NAME}": f"/files/{NAME}", f"/hooks/{NAME}": f"/files/{NAME}"})
    result = await check_file(client, server.url("/hooks/receive.php"), NAME, CONTENT)
    assert not result.valid and result.url is None
    assert [(c.url, c.ok, c.status) for c in result.checks] == [
        (server.url(f"/{NAME}"), False, 302), (server.url(f"/hooks/{NAME}"), False, 302)]
    assert result.checks[0].problem == (
        f"302 Found: redirects to /files/{NAME}; redirects are not followed, the file must be "
        f"served directly at {server.url(f'/{NAME}')}")
    assert [s.path for s in server.seen] == [f"/{NAME}", f"/hooks/{NAME}"]  # target never asked


async def test_a_redirect_to_another_host_is_refused(client: HttpClient,
                                                     server_factory: ServerFactory) -> None:
    elsewhere = await site(server_factory, {f"/{NAME}": CONTENT.encode()})
    server = await site(server_factory, {}, {f"/{NAME}": elsewhere.url(f"/{NAME}")})
    result = await check_file(client, server.url("/receive.php"), NAME, CONTENT)
    assert not result.valid
    (check,) = result.checks
    assert check.status == 302 and check.problem is not None
    assert f"redirects to {elsewhere.url(f'/{NAME}')}" in check.problem
    assert "the file must be served directly" in check.problem
    assert elsewhere.seen == []


@pytest.mark.parametrize("status", [301, 303, 307, 308])
async def test_every_redirect_status_is_refused(client: HttpClient, server_factory: ServerFactory,
                                                status: int) -> None:
    async def moved(request: web.Request) -> web.Response:
        if request.path == f"/{NAME}":
            return web.Response(status=status, headers={"Location": f"/real/{NAME}"})
        return web.Response(text=CONTENT)

    server = await server_factory(moved)
    result = await check_file(client, server.url("/"), NAME, CONTENT)
    assert not result.valid and result.checks[0].status == status
    assert "redirects are not followed" in (result.checks[0].problem or "")
    assert [s.path for s in server.seen] == [f"/{NAME}"]


async def test_a_redirect_without_location_is_refused(client: HttpClient,
                                                      server_factory: ServerFactory) -> None:
    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=302)

    server = await server_factory(moved)
    result = await check_file(client, server.url("/"), NAME, CONTENT)
    assert result.checks[0].problem == (
        "302 Found: a redirect (without a Location); redirects are not followed, the file must "
        f"be served directly at {server.url(f'/{NAME}')}")


async def test_an_ssrf_target_is_refused(server_factory: ServerFactory) -> None:
    server = await site(server_factory, {f"/{NAME}": CONTENT.encode()})
    async with HttpClient(SsrfPolicy()) as guarded:  # no loopback allowlist
        result = await check_file(guarded, server.url("/hooks/receive.php"), NAME, CONTENT)
        by_name = await check_file(guarded, f"http://localhost:{server.port}/", NAME, CONTENT)
    assert not result.valid and server.seen == []
    assert [c.problem for c in result.checks] == ["refused: 127.0.0.1 is loopback (SSRF guard)"] * 2
    assert not by_name.valid
    assert by_name.checks[0].problem is not None
    assert re.fullmatch(r"refused: localhost \((127\.0\.0\.1|::1)\) is loopback \(SSRF guard\)",
                        by_name.checks[0].problem)


async def test_a_timeout_is_a_problem_not_an_exception(client: HttpClient,
                                                       server_factory: ServerFactory) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(text=CONTENT)

    server = await server_factory(slow)
    result = await check_file(client, server.url("/"), NAME, CONTENT, timeout_s=0.1)
    assert not result.valid and result.checks[0].problem == "timed out after 0.1s"


async def test_connection_and_url_errors_are_problems(client: HttpClient) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = await check_file(client, f"http://127.0.0.1:{port}/", NAME, CONTENT)
    assert not refused.valid and refused.checks[0].status is None
    assert f"127.0.0.1:{port}" in (refused.checks[0].problem or "")
    bad = await check_file(client, "ftp://example.com/x", NAME, CONTENT)
    assert not bad.valid and "http or https" in (bad.checks[0].problem or "")
    with pytest.raises(ValueError, match="empty"):
        await check_file(client, f"http://127.0.0.1:{port}/", NAME, " \n")


# -- candidate URLs and challenges -------------------------------------------------------------

@pytest.mark.parametrize(("loop_url", "expected"), [
    ("https://example.com/hooks/receive.php",
     ["https://example.com/feedbackloop-x.txt", "https://example.com/hooks/feedbackloop-x.txt"]),
    ("https://example.com/receive.php", ["https://example.com/feedbackloop-x.txt"]),
    ("https://example.com/hooks/",
     ["https://example.com/feedbackloop-x.txt", "https://example.com/hooks/feedbackloop-x.txt"]),
    ("https://example.com/hooks",  # 'hooks' is the script here
     ["https://example.com/feedbackloop-x.txt"]),
    ("https://example.com", ["https://example.com/feedbackloop-x.txt"]),
    ("https://example.com/", ["https://example.com/feedbackloop-x.txt"]),
    ("http://Example.COM:8080/a/b/r.php?token=1#frag",
     ["http://example.com:8080/feedbackloop-x.txt", "http://example.com:8080/a/b/feedbackloop-x.txt"]),
    ("https://user:pw@example.com:443/r.php", ["https://example.com/feedbackloop-x.txt"]),
    ("http://[2001:db8::1]:8000/h/r", ["http://[2001:db8::1]:8000/feedbackloop-x.txt",
                                       "http://[2001:db8::1]:8000/h/feedbackloop-x.txt"]),
    ("https://example.com/a%20b/r.php", ["https://example.com/feedbackloop-x.txt",
                                         "https://example.com/a%20b/feedbackloop-x.txt"]),
    ("https://example.com/a/../b/./r.php", ["https://example.com/feedbackloop-x.txt",
                                            "https://example.com/b/feedbackloop-x.txt"]),
])
def test_candidate_urls(loop_url: str, expected: list[str]) -> None:
    assert candidate_urls(loop_url, "feedbackloop-x.txt") == expected


@pytest.mark.parametrize("loop_url", ["ftp://example.com/r", "/hooks/r.php", "https:///r.php",
                                      "mailto:a@example.com"])
def test_candidate_urls_needs_an_http_url_with_a_host(loop_url: str) -> None:
    with pytest.raises(InvalidUrl):
        candidate_urls(loop_url, NAME)


@pytest.mark.parametrize("file_name", ["", "../x.txt", "a/b.txt", ".htaccess", "x?.txt", "x y"])
def test_candidate_urls_needs_a_plain_file_name(file_name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        candidate_urls("https://example.com/r.php", file_name)


def test_new_challenge_is_unique_and_well_formed() -> None:
    made = [new_challenge() for _ in range(1000)]
    for file_name, content in made:
        assert re.fullmatch(r"feedbackloop-[0-9a-f]{16}\.txt", file_name)
        assert re.fullmatch(r"[0-9a-f]{32}", content)
        assert file_name[13:29] not in content
    assert len({f for f, _ in made}) == len({c for _, c in made}) == 1000


# -- the DNS method ----------------------------------------------------------------------------

RECORD = f"feedbackloop-verification={CONTENT}"


async def test_dns_record_on_the_host() -> None:
    resolver = StaticTxtResolver({"example.com": ["v=spf1 -all", RECORD]})
    result = await check_dns("https://Example.com./hooks/r.php", CONTENT, resolver)
    assert result.valid and result.url == "dns:example.com"
    assert resolver.calls == ["example.com"]
    assert result.checks == [OwnershipCheck("dns:example.com", True)]


async def test_dns_record_on_the_feedbackloop_label() -> None:
    resolver = StaticTxtResolver({"_feedbackloop.hooks.example.com": [f" {RECORD}\n"]})
    result = await check_dns("https://hooks.example.com/r", CONTENT, resolver)
    assert result.valid and result.url == "dns:_feedbackloop.hooks.example.com"
    assert [c.problem for c in result.checks] == ["no TXT record", None]


async def test_dns_wrong_content_and_no_record() -> None:
    resolver = StaticTxtResolver({"example.com": ["feedbackloop-verification=abc", "v=spf1 -all"],
                                  "_feedbackloop.example.com": ["google-site-verification=x"]})
    result = await check_dns("https://example.com/r", CONTENT, resolver)
    assert not result.valid and result.url is None
    assert [c.as_dict() for c in result.checks] == [
        {"url": "dns:example.com", "ok": False, "status": None, "problem": "content does not match"},
        {"url": "dns:_feedbackloop.example.com", "ok": False, "status": None,
         "problem": "no TXT record starting with 'feedbackloop-verification=' (1 other)"}]
    nothing = await check_dns("https://example.org/r", CONTENT, StaticTxtResolver())
    assert [c.problem for c in nothing.checks] == ["no TXT record"] * 2


@pytest.mark.parametrize("loop_url", ["https://203.0.113.7/r", "http://[2001:db8::1]/r",
                                      "http://2130706433/r"])
async def test_dns_cannot_prove_an_ip_literal_host(loop_url: str) -> None:
    resolver = StaticTxtResolver()
    result = await check_dns(loop_url, CONTENT, resolver)
    assert not result.valid and resolver.calls == []
    assert "is an IP address" in (result.checks[0].problem or "")


async def test_dns_failures_are_problems() -> None:
    failing = StaticTxtResolver({"example.com": DnsError("TXT lookup for example.com failed: x")})
    result = await check_dns("https://example.com/", CONTENT, failing)
    assert [c.problem for c in result.checks] == ["TXT lookup for example.com failed: x",
                                                  "no TXT record"]
    slow = await check_dns("https://example.com/", CONTENT, StaticTxtResolver(delay_s=1),
                           timeout_s=0.05)
    assert [c.problem for c in slow.checks] == ["timed out after 0.05s"] * 2
    bad = await check_dns("ftp://example.com/", CONTENT, StaticTxtResolver())
    assert not bad.valid and "http or https" in (bad.checks[0].problem or "")


class _TinyDns(asyncio.DatagramProtocol):
    """A real DNS server (UDP, TXT only): known names answer their records, ``fail.test``
    answers SERVFAIL, anything else NXDOMAIN."""

    records = {"example.test": [[RECORD.encode()], [b"v=spf1 ", b"-all"]],
               "_feedbackloop.empty.test": [[b"x" * 200, b"y" * 200]], "empty.test": []}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        qid = struct.unpack("!H", data[:2])[0]
        i, labels = 12, []
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode())
            i += 1 + data[i]
        name = ".".join(labels).lower()
        rcode = 2 if name == "fail.test" else 0 if name in self.records else 3
        answers = b""
        for chunks in self.records.get(name, []):
            rdata = b"".join(bytes([len(c)]) + c for c in chunks)
            answers += struct.pack("!HHHIH", 0xC00C, 16, 1, 60, len(rdata)) + rdata
        count = len(self.records.get(name, []))
        header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0)
        self.transport.sendto(header + data[12:i + 5] + answers, addr)


@pytest.fixture
async def dns_server() -> AsyncIterator[str]:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _TinyDns, local_addr=("127.0.0.1", 0))
    yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    transport.close()


async def test_aiodns_resolver_against_a_real_dns_server(dns_server: str) -> None:
    resolver = AiodnsTxtResolver([dns_server])
    try:
        assert await resolver.txt("example.test") == [RECORD, "v=spf1 -all"]
        assert await resolver.txt("empty.test") == []  # NODATA
        assert await resolver.txt("nowhere.test") == []  # NXDOMAIN
        with pytest.raises(DnsError, match="TXT lookup for fail.test failed"):
            await resolver.txt("fail.test")
        result = await check_dns("https://example.test/hooks/r.php", CONTENT, resolver)
        assert result.valid and result.url == "dns:example.test"
        split = await check_dns("https://empty.test/", CONTENT, resolver)
        assert [c.problem for c in split.checks] == [
            "no TXT record", "no TXT record starting with 'feedbackloop-verification=' (1 other)"]
    finally:
        await resolver.close()
