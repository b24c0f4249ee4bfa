"""A cuttable TCP proxy, for fault tests: put it between s3proxy and a dependency,
then `cut()` to simulate an outage and `restore()` to bring the dependency back."""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Any


class TcpProxy:
    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target  # (host, port), or the path of a unix socket
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._up = True
        self._closed = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect_target(self) -> socket.socket:
        if isinstance(self.target, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.target)
            return sock
        return socket.create_connection(self.target)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self._up:
                client.close()
                continue
            try:
                upstream = self._connect_target()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while self._up:
                for key, _ in sel.select(timeout=0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and break the live ones."""
        self._up = False
        with self._lock:
            for s in self._connections:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._connections.clear()

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def postgres_target(url: str) -> tuple[str, int] | str:
    """Where a Postgres URL points: (host, port) or a unix socket path."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    return (host, port)


def via_proxy(url: str, port: int) -> str:
    """The same database URL, reached over TCP through 127.0.0.1:port."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    user = parts.username or "postgres"
    auth = user + (f":{parts.password}" if parts.password else "")
    return urlunsplit(("postgresql", f"{auth}@127.0.0.1:{port}", parts.path, "", ""))
