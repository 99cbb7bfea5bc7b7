"""A TCP forwarder on loopback whose connections can be cut, as a network failure does.

``Forwarder(("127.0.0.1", 5432))`` listens on a free loopback port and relays every
connection to the target; :meth:`Forwarder.cut` closes the listening socket and every
relayed connection at once, so the client sees its connection drop and any new one
refused — a database that went away, without touching the database itself.
"""

from __future__ import annotations

import socket
import threading


class Forwarder:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed: cut
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                if self._cut:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones."""
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        self.listener.close()
        for end in sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
