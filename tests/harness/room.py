"""Serving a stage to a whole room: what ``nox -s serve -- STAGE --room`` adds.

On loopback, serve runs a stage as a learner does: Django's debug pages, the public
development key, local names only. A room is another matter. Other people's browsers
reach the site by whatever name or address they typed, a debug page would show any of them
the settings, and the public key would let anyone forge a session. So a room runs the stage
as deployed: DEBUG off (its static files served all the same); a secret key made for the
room and kept in the data folder, so that sessions survive a restart; and every name and
address of this machine allowed, as Django's host and as the origin of the chat's pages.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
from pathlib import Path

import psutil

LOOPBACK_NAMES = ("localhost", "127.0.0.1")
SECRET_KEY_FILE = "secret_key"
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def is_loopback(host: str) -> bool:
    """True for an address (or ``localhost``) that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_public_name(name: str) -> None:
    """Refuse, in one line, a --public-name that is not a bare host name or address."""
    try:
        ipaddress.IPv4Address(name)
        return
    except ValueError:
        pass
    if not HOST_NAME.fullmatch(name):
        raise SystemExit(
            f"--public-name {name!r} is not a host name or IPv4 address: give the name alone, "
            "as people type it, without http:// or a port (e.g. --public-name 192.168.1.20)."
        )


def interface_addresses() -> list[str]:
    """Every IPv4 address of this machine's network interfaces, loopback last.

    IPv4 only: the stages listen on 0.0.0.0, which takes no IPv6 connections.
    """
    found = [
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET
    ]
    return sorted(set(found), key=lambda address: (is_loopback(address), address))


def machine_names(public_name: str | None = None) -> list[str]:
    """Every name and address people may type to reach this machine, the one they were
    told (``public_name``) first: its host name (and ``name.local``, what Bonjour and
    Avahi answer to), its full name, each interface's address, and the loopback names."""
    hostname = socket.gethostname()
    names = [public_name] if public_name else []
    names += [hostname, socket.getfqdn()]
    if not hostname.endswith(".local"):
        names.append(f"{hostname}.local")
    names += [*interface_addresses(), *LOOPBACK_NAMES]
    return list(dict.fromkeys(name.lower() for name in names if name))


def address_to_give(public_name: str | None) -> str:
    """What to tell the room to type: ``public_name``, or else this machine's first
    address other networks can reach, or else its host name."""
    if public_name:
        return public_name
    reachable = [address for address in interface_addresses() if not is_loopback(address)]
    return reachable[0] if reachable else socket.gethostname()


def secret_key(data_dir: Path) -> str:
    """The room's secret key, made on the first run and kept in ``data_dir`` (readable by
    its owner alone): sessions signed with it stay good when the room's server restarts."""
    path = data_dir / SECRET_KEY_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def room_env(data_dir: Path, pages_port: int, public_name: str | None) -> dict[str, str]:
    """The variables that open a stage to the room: its secret key, every name of this
    machine as an allowed host, and each of them as an origin the chat server lets in.
    (DEBUG off comes with running the stage as deployed: see StageProcesses.)"""
    names = machine_names(public_name)
    return {
        "DJANGO_SECRET_KEY": secret_key(data_dir),
        "DJANGO_ALLOWED_HOSTS": ",".join(names),
        "CHAT_ALLOWED_ORIGINS": ",".join(f"http://{name}:{pages_port}" for name in names),
    }
