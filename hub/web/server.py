"""Serving the hub's FastAPI app with uvicorn: in the main thread until a signal (`campus-hub run`) or on a
background thread (tests, demo), on a socket bound before uvicorn starts."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM/SIGINT after its shutdown: the hub still has to commit, acknowledge and
    say goodbye on MQTT, which a re-raised SIGTERM would cut short. `on_exit` runs first on a signal: it ends the
    console's feed streams, which never end by themselves and which uvicorn would otherwise wait for."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class ApiServer:
    """One uvicorn server for the hub's app. `on_exit` ends long-lived responses (the feed) before shutdown;
    `on_start` runs before each start (the console reopens its feed streams)."""

    def __init__(
        self, app: FastAPI, host: str, port: int, *, on_exit: Callable[[], None], on_start: Callable[[], None]
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._on_exit = on_exit
        self._on_start = on_start
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _prepare(self) -> tuple[uvicorn.Server, socket.socket]:
        # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback peer as the client's
        # address (a header anyone can set); the hub decides that itself, from api.trusted_proxies.
        config = uvicorn.Config(self._app, log_level="warning", access_log=False, lifespan="off", proxy_headers=False)
        self._on_start()
        self._server = _Server(config, on_exit=self._on_exit)
        return self._server, bind_listener(self._host, self._port)

    def run(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM."""
        server, sock = self._prepare()
        log.info("API on http://%s:%d", *sock.getsockname()[:2])
        server.run(sockets=[sock])

    def start_thread(self) -> int:
        """Serve on a background thread; returns the bound port."""
        server, sock = self._prepare()
        port: int = sock.getsockname()[1]
        self._thread = threading.Thread(target=lambda: server.run(sockets=[sock]), name="api", daemon=True)
        self._thread.start()
        return port

    def stop(self) -> None:
        self._on_exit()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn starts so the port is known and a clash fails loudly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and accepted
    # sockets inherit proto 0 from a listener made without it; Nagle plus delayed ACKs then add ~40 ms to every
    # response on a kept-alive connection. Set on the listener too (Linux accepted sockets inherit it).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
