"""libcurl's multi interface driven by an asyncio event loop (no thread, no polling).

libcurl says which sockets to watch and when its next timeout is due (``M_SOCKETFUNCTION``,
``M_TIMERFUNCTION``); the event loop's readers, writers and one timer call
``socket_action`` back; finished transfers resolve the future :meth:`AsyncMulti.perform`
returned. Everything runs on the event loop's thread, inside ``socket_action``. Idle
connections stay in the multi handle's connection cache and are reused by later transfers.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pycurl

__all__ = ["AsyncMulti"]

_IN, _OUT = 1, 2  # pycurl.POLL_IN, pycurl.POLL_OUT as bits (POLL_INOUT = 3)


class AsyncMulti:
    """One ``CurlMulti`` on the running loop. ``perform(curl)`` -> a future of None (the
    transfer completed: look at the handle) or libcurl's ``pycurl.error``.

    ``max_connections`` caps open connections in total (the connection cache holds as many).
    """

    def __init__(self, max_connections: int = 1000) -> None:
        self._loop = asyncio.get_running_loop()
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        multi.setopt(pycurl.M_MAXCONNECTS, max_connections)
        multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, max_connections)
        self._multi: pycurl.CurlMulti | None = multi
        self._waiting: dict[pycurl.Curl, asyncio.Future[pycurl.error | None]] = {}
        self._watched: dict[int, int] = {}
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._soon = False  # the pending timer is a call_soon

    @property
    def transfers(self) -> int:
        """Transfers added and not finished."""
        return len(self._waiting)

    def perform(self, curl: pycurl.Curl) -> asyncio.Future[pycurl.error | None]:
        """Start the transfer ``curl`` is set up for."""
        if self._multi is None:
            raise RuntimeError("the multi handle is closed")
        future: asyncio.Future[pycurl.error | None] = self._loop.create_future()
        self._waiting[curl] = future
        self._multi.add_handle(curl)
        return future

    def abort(self, curl: pycurl.Curl) -> None:
        """Stop a transfer whose caller went away (its connection is closed by libcurl)."""
        if self._waiting.pop(curl, None) is not None and self._multi is not None:
            self._multi.remove_handle(curl)

    def close(self) -> None:
        """Abort every transfer (their futures are cancelled) and close every connection."""
        multi, self._multi = self._multi, None
        if multi is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for curl, future in list(self._waiting.items()):
            multi.remove_handle(curl)
            future.cancel()
        self._waiting.clear()
        for fd in list(self._watched):
            self._unwatch(fd)
        multi.close()

    # -- libcurl's callbacks ----------------------------------------------------------------
    def _on_socket(self, what: int, fd: int, multi: Any, socketp: Any) -> None:
        if what == pycurl.POLL_REMOVE:
            self._unwatch(fd)
            return
        loop = self._loop
        before = self._watched.get(fd, 0)
        if before & _IN and not what & _IN:
            loop.remove_reader(fd)
        if before & _OUT and not what & _OUT:
            loop.remove_writer(fd)
        if what & _IN and not before & _IN:
            loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        if what & _OUT and not before & _OUT:
            loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
        self._watched[fd] = what & (_IN | _OUT)

    def _unwatch(self, fd: int) -> None:
        before = self._watched.pop(fd, 0)
        if before & _IN:
            self._loop.remove_reader(fd)
        if before & _OUT:
            self._loop.remove_writer(fd)

    def _on_timer(self, timeout_ms: int) -> None:
        if timeout_ms == 0 and self._soon:
            return  # every transfer added in this loop iteration starts in one socket_action
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._soon = timeout_ms == 0
        if timeout_ms == 0:
            self._timer = self._loop.call_soon(self._act, pycurl.SOCKET_TIMEOUT, 0)
        elif timeout_ms > 0:
            self._timer = self._loop.call_later(timeout_ms / 1000, self._act,
                                                pycurl.SOCKET_TIMEOUT, 0)

    def _act(self, fd: int, events: int) -> None:
        multi = self._multi
        if multi is None:
            return
        if fd == pycurl.SOCKET_TIMEOUT:
            self._timer = None
            self._soon = False
        multi.socket_action(fd, events)
        while True:
            queued, done, failed = multi.info_read()
            for curl in done:
                self._finish(multi, curl, None)
            for curl, code, message in failed:
                self._finish(multi, curl, pycurl.error(code, message))
            if not queued:
                break

    def _finish(self, multi: pycurl.CurlMulti, curl: pycurl.Curl,
                error: pycurl.error | None) -> None:
        multi.remove_handle(curl)
        future = self._waiting.pop(curl, None)
        if future is not None and not future.done():
            future.set_result(error)
