"""Run a stage for people: ``python -m harness.serve part2`` (what ``nox -s serve`` calls).

Migrates a database kept outside the snapshot (in .serve/<stage>/), makes sure there are
demo rooms and an admin account, starts every process of the stage, prints where to go,
and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

from .processes import StageError, StageProcesses
from .stages import REPO_ROOT, STAGES

DEMO_ROOMS = ("Lobby", "Help desk", "Random")
DEMO_PEOPLE = ("ada", "grace", "linus")
"""Accounts to chat as, on a stage where chatting needs a login (passwords change each run)."""
DEFAULT_PORTS = {"django": 8000, "chatserver": 1025, "site": 8000}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s serve --", description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES), help="which stage to run")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 lets other machines in (a workshop room)",
    )
    parser.add_argument(
        "--public-name",
        help="the host name or IP people type in their browsers, when it is not this machine's "
        "loopback (e.g. the instructor's laptop on the room's Wi-Fi)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the database and logs go (default: .serve/<stage> in the workbook)",
    )
    return parser.parse_args(argv)


def port_from_env(process: str, variable: str) -> int:
    value = os.environ.get(variable, str(DEFAULT_PORTS.get(process, 0)))
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{variable}={value!r} is not a port number") from None


def check_port_free(host: str, port: int, variable: str) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise SystemExit(
                f"Port {port} on {host} is already in use. Stop whatever is running there, "
                f"or choose another port with {variable}=... "
            ) from None


def ensure_demo_data(site: StageProcesses) -> str:
    """Demo rooms when there are none yet; an admin account with a fresh password."""
    site.django_shell(
        "import os; from chat.models import ChatRoom\n"
        "if not ChatRoom.objects.exists():\n"
        "    for name in os.environ['DEMO_ROOMS'].split('|'):\n"
        "        ChatRoom.objects.create(name=name)\n",
        DEMO_ROOMS="|".join(DEMO_ROOMS),
    )
    password = secrets.token_urlsafe(9)
    site.create_superuser("admin", password)
    return password


def ensure_demo_people(site: StageProcesses) -> dict[str, str]:
    """Demo accounts with fresh passwords, where the stage has logins: name -> password."""
    if "auth" not in site.stage.features:
        return {}
    passwords = {name: secrets.token_urlsafe(6) for name in DEMO_PEOPLE}
    site.django_shell(
        "import os; from django.contrib.auth import get_user_model\n"
        "for pair in os.environ['DEMO_PEOPLE'].split('|'):\n"
        "    name, password = pair.split(':')\n"
        "    user, _ = get_user_model().objects.get_or_create(username=name)\n"
        "    user.set_password(password)\n"
        "    user.save()\n",
        DEMO_PEOPLE="|".join(f"{name}:{password}" for name, password in passwords.items()),
    )
    return passwords


class Stop(Exception):
    """A signal asked serve to stop: Ctrl-C, SIGTERM, or SIGHUP when its terminal closes."""


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into the same clean stop as Ctrl-C (SIGINT).

    The servers are serve's children: however serve is asked to stop, it must stop them
    too, or they keep holding their ports.
    """

    def stop(signum: int, frame: object) -> None:
        for each in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(each, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        raise Stop(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    stop_on_signals()
    stage = STAGES[args.stage]
    loopback = args.host in ("127.0.0.1", "0.0.0.0")
    public = args.public_name or ("localhost" if loopback else args.host)
    ports = {}
    for process in stage.processes:
        ports[process.name] = port_from_env(process.name, process.port_env)
        check_port_free(args.host, ports[process.name], process.port_env)
    pages_port = ports[stage.process("django").name]
    env = {"CHAT_INTERFACE": args.host}  # the chat server listens where Django does
    if args.public_name:
        names = [args.public_name, "localhost", "127.0.0.1"]
        env["DJANGO_ALLOWED_HOSTS"] = ",".join(names)
        env["CHAT_ALLOWED_ORIGINS"] = ",".join(f"http://{n}:{pages_port}" for n in names)

    workdir = args.data_dir or REPO_ROOT / ".serve" / stage.name
    site = StageProcesses(stage, stage.path, workdir, host=args.host, ports=ports, env=env)
    pages = f"http://{public}:{pages_port}"
    try:
        with site:
            password = ensure_demo_data(site)
            print(f"\n{stage.folder} is running ({stage.title}).\n")
            print(f"  Chat rooms:  {pages}/chats/")
            print(f"  Admin:       {pages}/admin/")
            print(f"               user admin, password {password}")
            for name, secret in ensure_demo_people(site).items():
                print(f"  Chat as:     user {name}, password {secret}")
            for process in stage.processes:
                log = site.log_path(process.name)
                print(f"  {process.name:<12} port {ports[process.name]}, log {log}")
            print(f"\nDatabase: {site.database}\nPress Ctrl-C to stop.\n", flush=True)
            while site.all_running():
                time.sleep(0.5)
            print("A server stopped unexpectedly; see its log (paths above).", file=sys.stderr)
            return 1
    except StageError as problem:
        print(f"Could not start {stage.folder}: {problem}", file=sys.stderr)
        return 1
    except Stop as stopped:
        print(f"\nStopped ({stopped}).")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
