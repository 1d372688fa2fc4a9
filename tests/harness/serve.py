"""Run a stage for people: ``python -m harness.serve part2`` (what ``nox -s serve`` calls).

Migrates a database kept outside the snapshot (in .serve/<stage>/, PostgreSQL's data folder
too for a stage that needs it), or a learner's own (``--stage-dir ~/django-twisted-chat``:
their folder and its db.sqlite3), makes sure there are demo rooms and an admin account,
starts every process of the stage, prints where to go, and stops everything cleanly on
Ctrl-C. Each run's server logs go to a folder of their own, .serve/<stage>/logs/<date_time>/
(logs/latest: the newest). ``--room`` (or a ``--host`` other machines can reach) serves a
whole room, as deployed: see harness/room.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from . import artefacts, ports, room
from .databases import Database, PostgresDatabase, SqliteFile
from .native_windows import refuse_native_windows
from .processes import STOP_TIMEOUT, StageError, StageProcesses
from .services import PostgresServer
from .stages import REPO_ROOT, STAGES, Stage

DEMO_ROOMS = ("Lobby", "Help desk", "Random")
DEMO_PEOPLE = ("ada", "grace", "linus")
"""Accounts to chat as, on a stage where chatting needs a login (passwords change each run)."""
DEFAULT_PORTS = {"django": 8000, "chatserver": 1025, "site": 8000}
LOG_RUNS_KEPT = 10
POSTGRES_DATABASE = "django_twisted_chat"
"""The database's name on serve's PostgreSQL server: the stage's own default (PGDATABASE)."""
"""Runs whose server logs serve keeps, in the data folder's logs/ (logs/latest: the newest)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s serve --", description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES), help="which stage to run")
    parser.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1, this machine alone; with --room "
        "0.0.0.0); any other than loopback serves a room, as --room does",
    )
    parser.add_argument(
        "--room",
        action="store_true",
        help="serve the whole room: listen on every interface, with DEBUG off, a secret key "
        "kept in the data folder, and every name and address of this machine allowed",
    )
    parser.add_argument(
        "--public-name",
        help="the host name or IP people type in their browsers, when it is not this machine's "
        "loopback (e.g. the instructor's laptop on the room's Wi-Fi)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the logs go, and the database unless --stage-dir is given (default: "
        ".serve/<stage> in the workbook)",
    )
    parser.add_argument(
        "--stage-dir",
        type=Path,
        help="run this folder instead of the reference snapshot (your own project, as "
        "nox -s catchup leaves it), with its own database, db.sqlite3 in that folder",
    )
    args = parser.parse_args(argv)
    args.host = args.host or ("0.0.0.0" if args.room else "127.0.0.1")
    if args.public_name:
        room.check_public_name(args.public_name)
    return args


def serves_a_room(args: argparse.Namespace) -> bool:
    """Whether serve opens the stage to a room: asked for with --room, or implied by a
    --host that other machines can reach."""
    return bool(args.room) or not room.is_loopback(args.host)


def run_logs(data_dir: Path) -> Path:
    """This run's folder for the servers' logs, ``data_dir/logs/<date_time>/``, which
    ``logs/latest`` points to; the LOG_RUNS_KEPT newest runs are kept, older ones deleted."""
    folder = artefacts.run_folder(data_dir / "logs", artefacts.run_name(), LOG_RUNS_KEPT)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def served_database(
    stage: Stage, learners: Path | None, data_dir: Path, logs: Path
) -> Database | None:
    """The database serve keeps between runs; None: a new sqlite file in ``data_dir``.

    A learner's folder (``learners``) keeps its own db.sqlite3. A stage that needs PostgreSQL
    keeps a server's data folder in ``data_dir``, started and stopped with the stage.
    """
    if "postgresql" in stage.services:
        server = PostgresServer(logs, data=data_dir / "postgresql")
        return PostgresDatabase(server, POSTGRES_DATABASE)
    if learners is not None:
        return SqliteFile(learners / "db.sqlite3", data_dir / "empty.sqlite3")
    return None


def one_person_env(public_name: str | None, pages_port: int) -> dict[str, str]:
    """On loopback, the names Django and the chat server allow: their own defaults, or
    ``public_name`` (a name a proxy forwards to this machine) and the local ones."""
    if not public_name:
        return {}
    names = [public_name, "localhost", "127.0.0.1"]
    return {
        "DJANGO_ALLOWED_HOSTS": ",".join(names),
        "CHAT_ALLOWED_ORIGINS": ",".join(f"http://{n}:{pages_port}" for n in names),
    }


def room_notes(data_dir: Path, public_name: str | None) -> list[str]:
    """What serve says about a room, after the URLs: how else it is reached, and how it runs."""
    names = ", ".join(room.machine_names(public_name))
    key = data_dir / room.SECRET_KEY_FILE
    return [
        f"  Reached as:  {names}",
        f"  As deployed: DEBUG off; secret key in {key} (delete it to log everyone out)",
    ]


def port_from_env(process: str, variable: str) -> int:
    value = os.environ.get(variable, str(DEFAULT_PORTS.get(process, 0)))
    if not value.strip().isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"{variable}={value!r} is not a port number (from 1 to 65535)")
    return int(value)


def check_port_free(host: str, port: int, variable: str) -> None:
    """Refuse, in plain words, a port another program listens on (see harness/ports.py)."""
    problem = ports.listen_problem(host, port)
    if problem is None:
        return
    if problem.another_port_helps:
        raise SystemExit(f"{problem.text} Or choose another port with {variable}=...")
    raise SystemExit(f"{problem.text} Choose another with --host.")


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


STOP_SIGNALS = tuple(
    signum
    for signum in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP"))
    if signum is not None
)
"""The signals that stop serve (Windows has no SIGHUP)."""
PARENT_POLL = 0.5
"""Seconds between two looks at whether the program that started serve is still there."""
STOPPED = b"stopped"
"""What serve tells its guard once every server it started is down."""
GUARD = "import sys; from harness.serve import guard; guard(int(sys.argv[1]))"


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into the same clean stop as Ctrl-C (SIGINT).

    The servers are serve's children: however serve is asked to stop, it must stop them
    too, or they keep holding their ports.
    """

    def stop(signum: int, frame: object) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        raise Stop(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)


def stop_when_parent_ends() -> None:
    """Stop as on SIGTERM when the program that started serve (nox) is gone.

    ``kill -9`` of nox gives it no chance to pass anything on; serve is then adopted by
    another process, and its parent's pid changes. A thread looks, twice a second.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


def start_guard() -> subprocess.Popen[bytes]:
    """Put serve and everything it starts in a process group of their own, and start a
    guard that stops that group if serve ends without saying it stopped its servers.

    Why: serve stops its servers on every signal it can catch, but ``kill -9`` (or the
    out-of-memory killer) ends it with no chance to, and the servers would go on holding
    their ports. The guard waits on a pipe that only serve holds open (its children do
    not inherit it), so the pipe closes when serve ends, however it ends; a close without
    serve's last word means the group must go. The group takes in the servers and
    anything they start, without serve having to track a pid. The guard has a session of
    its own, so a Ctrl-C or a closing terminal does not end it before it is needed.

    Being in a group of its own, serve no longer hears the terminal's Ctrl-C itself:
    nox does, and passes it on (see the serve session in noxfile.py). Its input is
    /dev/null, so that nothing it starts can stop on reading the terminal.
    """
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    tests = str(Path(__file__).resolve().parent.parent)
    return subprocess.Popen(
        [sys.executable, "-c", GUARD, str(os.getpgrp())],
        stdin=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": tests},
    )


def dismiss(guard_process: subprocess.Popen[bytes]) -> None:
    """Tell the guard every server is down, and let it go."""
    assert guard_process.stdin is not None
    try:
        guard_process.stdin.write(STOPPED)
        guard_process.stdin.close()
        guard_process.wait(STOP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        guard_process.kill()


def guard(group: int) -> None:
    """The guard process: wait until serve ends; stop its group unless it said it had."""
    if sys.stdin.buffer.read() == STOPPED:
        return
    print("serve ended without stopping its servers; stopping them.", file=sys.stderr)
    try:
        os.killpg(group, signal.SIGINT)  # what Ctrl-C sends: the servers stop cleanly
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.killpg(group, 0)
            time.sleep(0.1)
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        return  # every member is gone


def main(argv: list[str]) -> int:
    refuse_native_windows("nox -s serve")
    args = parse_args(argv)
    stop_on_signals()
    try:
        return serve(args)
    except Stop:
        with contextlib.suppress(OSError):  # whoever read serve's output may be gone
            print("\nStopped: every server is down.", flush=True)
        return 0


Notes = Callable[[StageProcesses, str], list[str]]
"""Lines more to print once the site runs, given it and its address (harness/workshop.py)."""


def serve(
    args: argparse.Namespace,
    more_env: Mapping[str, str] | None = None,
    more_notes: Notes | None = None,
) -> int:
    """Run ``args.stage`` until stopped; ``more_env`` adds to its settings, ``more_notes`` to
    what is printed (both for the workshop, which is this plus its board)."""
    stop_when_parent_ends()
    stage = STAGES[args.stage]
    ports = {}
    for process in stage.processes:
        ports[process.name] = port_from_env(process.name, process.port_env)
        check_port_free(args.host, ports[process.name], process.port_env)
    pages_port = ports[stage.process("django").name]
    workdir = args.data_dir or REPO_ROOT / ".serve" / stage.name
    env = {"CHAT_INTERFACE": args.host}  # the chat server listens where Django does
    in_room = serves_a_room(args)
    if in_room:
        env.update(room.room_env(workdir, pages_port, args.public_name))
        public = room.address_to_give(args.public_name)
        notes = room_notes(workdir, args.public_name)
    else:
        env.update(one_person_env(args.public_name, pages_port))
        public = args.public_name or "localhost"
        notes = []
    env.update(more_env or {})

    folder = args.stage_dir.expanduser().resolve() if args.stage_dir else stage.path
    logs = run_logs(workdir)
    database = served_database(stage, folder if args.stage_dir else None, workdir, logs)
    site = StageProcesses(
        stage, folder, workdir, host=args.host, ports=ports, env=env, database=database,
        deployed=in_room, log_dir=logs,
    )  # fmt: skip
    guard_process = start_guard()
    try:
        return run(site, ports, f"http://{public}:{pages_port}", notes, more_notes)
    finally:
        dismiss(guard_process)


def run(
    site: StageProcesses,
    ports: dict[str, int],
    pages: str,
    notes: list[str],
    more_notes: Notes | None = None,
) -> int:
    """Start the site, say where to go (and ``notes``, and ``more_notes``), and keep it
    running until a signal stops it."""
    stage = site.stage
    try:
        with site:
            password = ensure_demo_data(site)
            yours = site.stage_dir != stage.path
            where = f"{site.stage_dir}, as {stage.name}," if yours else stage.folder
            print(f"\n{where} is running ({stage.title}).\n")
            print(f"  Chat rooms:  {pages}/chats/")
            print(f"  Admin:       {pages}/admin/")
            print(f"               user admin, password {password}")
            for name, secret in ensure_demo_people(site).items():
                print(f"  Chat as:     user {name}, password {secret}")
            for note in notes:
                print(note)
            for line in more_notes(site, pages) if more_notes else []:
                print(f"  {line}")
            for process in stage.processes:
                log = site.log_path(process.name)
                print(f"  {process.name:<12} port {ports[process.name]}, log {log}")
            for server in site.servers():
                print(f"  {server.name:<12} port {server.port}, log {server.log_path}")
            print(f"\nDatabase: {site.database}\nPress Ctrl-C to stop.\n", flush=True)
            while site.all_running():
                time.sleep(0.5)
            print("A server stopped unexpectedly; see its log (paths above).", file=sys.stderr)
            return 1
    except StageError as problem:
        print(f"Could not start {stage.folder}: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
