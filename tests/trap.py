"""A listener that only counts connections: proof that an SSRF guard never connected to it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class ConnectionTrap:
    host: str
    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)

    def url(self, path: str = "/voice.ogg", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


@contextmanager
def connection_trap(host: str = "127.0.0.2") -> Iterator[ConnectionTrap]:
    """Listen on a loopback address (127.0.0.2 by default, not the sandbox's 127.0.0.1)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, 0))
    server.listen(16)
    server.settimeout(0.05)
    trap = ConnectionTrap(host=host, port=server.getsockname()[1])
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            trap.connections.append(peer)
            conn.close()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield trap
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
