"""Refuse network connections to anything but loopback (installed by tests/conftest.py).

``socket.socket.connect`` / ``connect_ex`` are replaced for the test process: an AF_INET /
AF_INET6 connection whose host is not ``localhost`` or a loopback IP (127.0.0.0/8, ::1) raises
:class:`NetworkRefused` before the system call, so nothing is ever sent. Host names are never
resolved (a name other than ``localhost`` is refused as it is). Unix sockets, pipes and
loopback (reward workers, CLI subprocesses, gloo rendezvous) are unaffected.
``socket.create_connection`` and the HTTP clients built on the socket module go through
``connect``. Checked in tests/reliability/test_safety.py.
"""

from __future__ import annotations

import ipaddress
import socket


class NetworkRefused(ConnectionRefusedError):
    """A test tried to connect to a non-loopback address (the suite must run offline)."""


def is_local_address(address) -> bool:
    """True for a Unix socket path, ``localhost`` or a loopback IP; False for any other host."""
    if isinstance(address, (str, bytes)):  # AF_UNIX path (or abstract namespace)
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:  # a host name other than localhost: not resolved, refused
        return False


_REAL_CONNECT = socket.socket.connect
_REAL_CONNECT_EX = socket.socket.connect_ex


def _check(sock: socket.socket, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local_address(address):
        raise NetworkRefused(f"tests run offline: connection to {address!r} refused (tests/offline_guard.py)")


def guarded_connect(self, address):
    _check(self, address)
    return _REAL_CONNECT(self, address)


def guarded_connect_ex(self, address):
    _check(self, address)
    return _REAL_CONNECT_EX(self, address)


def guard_connect() -> None:
    """Install the guard on ``socket.socket`` (idempotent)."""
    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
