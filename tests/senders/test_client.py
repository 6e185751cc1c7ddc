"""Both POST clients (aiohttp HttpClient, libcurl CurlClient) against real aiohttp servers on
loopback: statuses, snippets, timeouts, errors, redirect rules, size limits, no cookies, no
proxies; GET (aiohttp only, for ownership validation)."""
from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from senders.client import SNIPPET_BYTES, HttpClient
from senders.errors import (
    ConnectError,
    ConnectionLost,
    DnsError,
    InvalidUrl,
    ProtocolError,
    RequestTimeout,
    ResponseTooLarge,
    TlsError,
)
from senders.curl import CurlClient
from senders.ssrf import SsrfPolicy
from senders.testing import FakeResolver

from .conftest import LOOPBACK, LocalServer, PostClient, ServerFactory, raw_server


async def test_post_sends_body_and_headers_and_reads_the_answer(
        client: PostClient, server_factory: ServerFactory) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=202, text="accepted", headers={"X-Trace": "t1"})

    server = await server_factory(answer)
    response = await client.post(server.url("/hook?a=1"), b'{"x":1}',
                                 {"content-type": "application/json", "webhook-id": "w1"}, 5)
    assert (response.status, response.body, response.headers["x-trace"]) == (202, b"accepted", "t1")
    assert response.url == server.url("/hook?a=1") and 0 < response.latency_s < 5
    seen = server.seen[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?a=1", b'{"x":1}')
    assert seen.headers["webhook-id"] == "w1"
    assert seen.headers["User-Agent"].startswith("FeedbackLoops/")
    assert seen.headers["Accept-Encoding"] == "identity"


async def test_post_keeps_only_a_snippet_and_reuses_the_connection(
        client: PostClient, server_factory: ServerFactory) -> None:
    peers: set[object] = set()

    async def big(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response(status=500, body=b"e" * 20_000)

    server = await server_factory(big)
    for _ in range(3):
        response = await client.post(server.url(), b"", {}, 5)
        assert response.status == 500 and response.body == b"e" * SNIPPET_BYTES
    assert len(peers) == 1


async def test_post_never_follows_redirects(client: PostClient, server_factory: ServerFactory) -> None:
    async def moved(request: web.Request) -> web.Response:
        if request.path == "/old":
            raise web.HTTPTemporaryRedirect("/new")
        return web.Response(status=204)

    server = await server_factory(moved)
    response = await client.post(server.url("/old"), b"{}", {}, 5)
    assert response.status == 307 and response.headers["Location"] == "/new"
    assert [s.path for s in server.seen] == ["/old"]


async def test_timeout(client: PostClient, server_factory: ServerFactory) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(status=204)

    server = await server_factory(slow)
    with pytest.raises(RequestTimeout, match="within 0.1 s") as info:
        await client.post(server.url(), b"{}", {}, timeout_s=0.1)
    assert info.value.retryable


async def test_connection_refused(client: PostClient) -> None:
    srv, port = await raw_server(None)
    srv.close()
    await srv.wait_closed()
    with pytest.raises(ConnectError) as info:
        await client.post(f"http://127.0.0.1:{port}/", b"{}", {}, 5)
    assert info.value.retryable and info.value.error_class == "ConnectError"


async def test_server_hangs_up(client: PostClient) -> None:
    srv, port = await raw_server(None)
    try:
        with pytest.raises(ConnectionLost):
            await client.post(f"http://127.0.0.1:{port}/", b"{}", {}, 5)
    finally:
        srv.close()
        await srv.wait_closed()


async def test_garbage_answer(client: PostClient) -> None:
    srv, port = await raw_server(b"SMTP READY\r\n\r\n")
    try:
        with pytest.raises(ProtocolError):
            await client.post(f"http://127.0.0.1:{port}/", b"{}", {}, 5)
    finally:
        srv.close()
        await srv.wait_closed()


async def test_unknown_name(client_class: type[PostClient]) -> None:
    async with client_class(SsrfPolicy(LOOPBACK), resolver=FakeResolver()) as client:
        with pytest.raises(DnsError, match="nowhere.example"):
            await client.post("http://nowhere.example/", b"{}", {}, 5)


@pytest.mark.parametrize("url, reason", [
    ("ftp://files.example/x", "scheme"),
    ("hooks.example/x", "scheme"),
    ("http:///x", "host"),
    ("http://hooks.example:99999/", "port"),
    ("", "scheme"),
])
async def test_invalid_urls(client: PostClient, url: str, reason: str) -> None:
    with pytest.raises(InvalidUrl) as info:
        await client.post(url, b"", {}, 5)
    assert reason in str(info.value).lower() or reason in info.value.reason.lower()


async def test_get_reads_the_body_within_max_bytes(http_client: HttpClient,
                                                   server_factory: ServerFactory) -> None:
    async def files(request: web.Request) -> web.StreamResponse:
        if request.path == "/ok.txt":
            return web.Response(text="feedbackloop-abc\n")
        if request.path == "/big.txt":
            return web.Response(body=b"x" * 5000)
        stream = web.StreamResponse()  # chunked: no Content-Length to check up front
        await stream.prepare(request)
        for _ in range(10):
            await stream.write(b"y" * 1000)
        await stream.write_eof()
        return stream

    server = await server_factory(files)
    response = await http_client.get(server.url("/ok.txt"), max_bytes=100, timeout_s=5)
    assert (response.status, response.body) == (200, b"feedbackloop-abc\n")
    with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes"):
        await http_client.get(server.url("/big.txt"), max_bytes=1000, timeout_s=5)
    with pytest.raises(ResponseTooLarge):
        await http_client.get(server.url("/chunked.txt"), max_bytes=1000, timeout_s=5)
    assert len((await http_client.get(server.url("/chunked.txt"), max_bytes=10_000, timeout_s=5)).body) == 10_000


async def test_get_never_follows_redirects(http_client: HttpClient,
                                          server_factory: ServerFactory) -> None:
    other = await server_factory()

    async def moves(request: web.Request) -> web.Response:
        targets = {"/a": "/b", "/away": other.url("/x")}
        if request.path in targets:
            raise web.HTTPFound(targets[request.path])
        return web.Response(text="here")

    server = await server_factory(moves)
    same = await http_client.get(server.url("/a"), 100, 5)
    assert (same.status, same.headers["Location"], same.url) == (302, "/b", server.url("/a"))
    away = await http_client.get(server.url("/away"), 100, 5)
    assert (away.status, away.headers["Location"]) == (302, other.url("/x"))
    assert [s.path for s in server.seen] == ["/a", "/away"] and other.seen == []


async def test_no_cookies_are_kept(client: PostClient, server_factory: ServerFactory) -> None:
    async def sets_cookie(request: web.Request) -> web.Response:
        response = web.Response(status=204)
        response.set_cookie("session", "s3cret")
        return response

    server = await server_factory(sets_cookie)
    await client.post(server.url(), b"", {}, 5)
    await client.post(server.url(), b"", {}, 5)
    assert "Cookie" not in server.seen[1].headers


async def test_proxy_environment_is_ignored(monkeypatch: pytest.MonkeyPatch, server: LocalServer,
                                            client_class: type[PostClient]) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")
    async with client_class(SsrfPolicy(LOOPBACK)) as client:
        assert (await client.post(server.url(), b"", {}, 5)).status == 204


async def test_must_be_started(client_class: type[PostClient]) -> None:
    client = client_class()
    with pytest.raises(RuntimeError, match="not started"):
        await client.post("https://hooks.example/", b"", {}, 5)
    await client.close()  # closing an unstarted client is harmless


async def test_curl_cuts_an_endless_answer_but_keeps_its_status(
        server_factory: ServerFactory) -> None:
    """Beyond the snippet and the bounded drain the transfer is cut (the connection dropped),
    and the answer still counts; the next call works on a new connection."""
    async def huge(request: web.Request) -> web.Response:
        return web.Response(status=200, body=b"z" * 50_000)

    server = await server_factory(huge)
    async with CurlClient(SsrfPolicy(LOOPBACK), drain_max_bytes=4096) as client:
        for _ in range(2):
            response = await client.post(server.url(), b"{}", {}, 5)
            assert response.status == 200 and response.body == b"z" * SNIPPET_BYTES


@pytest.fixture(scope="module")
def tls_authority() -> trustme.CA:
    return trustme.CA()


async def _tls_server(authority: trustme.CA) -> tuple[str, web.AppRunner]:
    cert = authority.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    app = web.Application()
    app.router.add_post("/hook", _no_content)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return f"https://127.0.0.1:{runner.addresses[0][1]}/hook", runner


async def _no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def test_curl_https_verifies_against_the_trusted_authorities(
        tls_authority: trustme.CA, tmp_path: Path) -> None:
    url, runner = await _tls_server(tls_authority)
    try:
        # the system's CAs do not know this test authority: refused, nothing sent
        async with CurlClient(SsrfPolicy(LOOPBACK)) as client:
            with pytest.raises(TlsError):
                await client.post(url, b"{}", {}, 5)
        ca_file = tmp_path / "ca.pem"
        tls_authority.cert_pem.write_to_path(str(ca_file))
        async with CurlClient(SsrfPolicy(LOOPBACK), ca_file=str(ca_file)) as client:
            assert (await client.post(url, b"{}", {}, 5)).status == 204
    finally:
        await runner.cleanup()


def test_curl_uses_the_system_certificates_python_uses(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    client = CurlClient()
    assert client.ca_file == str(bundle)


async def test_a_cancelled_post_leaves_the_client_usable(client: PostClient,
                                                        server_factory: ServerFactory) -> None:
    async def slow_then_fast(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await asyncio.sleep(5)
        return web.Response(status=204)

    server = await server_factory(slow_then_fast)
    call = asyncio.ensure_future(client.post(server.url("/slow"), b"{}", {}, 10))
    while not server.seen:
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (await client.post(server.url("/fast"), b"{}", {}, 5)).status == 204
