"""Installed in every Python process of the air-gap test (``PYTHONPATH`` points here): any
connection that would leave the machine is refused and written to ``$SUPPLYCHAIN_AIRGAP_LOG``,
and so is any lookup of a name other than the machine's own. Loopback and Unix sockets stay open
(the Jupyter kernel talks to its client over loopback)."""

import os
import socket

_LOG = os.environ.get("SUPPLYCHAIN_AIRGAP_LOG")
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None, socket.gethostname()}
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _note(what: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what}\n")


def _local(sock, address) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    return host in _LOCAL_NAMES or str(host).startswith("127.")


def connect(self, address):
    if not _local(self, address):
        _note(f"connect {address!r}")
        raise OSError(101, f"air-gap test: connection to {address!r} refused")
    return _connect(self, address)


def connect_ex(self, address):
    if not _local(self, address):
        _note(f"connect {address!r}")
        return 101
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL_NAMES and not str(host).startswith("127."):
        _note(f"lookup {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"air-gap test: lookup of {host!r} refused")
    return _getaddrinfo(host, *args, **kwargs)


if _LOG:
    with open(_LOG + ".guarded", "a", encoding="utf-8") as f:  # which processes ran guarded
        f.write(f"{os.getpid()}\n")
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
