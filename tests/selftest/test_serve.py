"""`nox -s serve` runs a stage for people: demo rooms, an admin login, and a stop, however it
is asked for, that leaves no server behind; a restart at once starts, and a port another
program holds is refused with that program's name."""

from __future__ import annotations

import errno
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import psutil
import pytest

from harness import http, ports, room
from harness.processes import free_port
from harness.stages import REPO_ROOT, STAGES
from harness.waits import wait_for
from harness.wsclient import open_silent_client, read_until_closed
from selftest.nox_runs import nox_command

STARTUP_TIMEOUT = 120.0
"""Seconds serve may take to start a stage on a busy machine (nox: its install check too)."""
STOP_TIMEOUT = 45.0
"""Seconds everything may take to stop: nox gives serve 30 (SERVE_STOP_TIMEOUT)."""
READY = "Press Ctrl-C to stop."
HOLDER = (
    "import socket, sys\n"
    "port_holder = socket.create_server(('127.0.0.1', 0))\n"
    "print(port_holder.getsockname()[1], flush=True)\n"
    "sys.stdin.read()\n"
)
"""A program that listens on a port until its input closes."""
TIME_WAIT_HINT = (
    " Started again at once, on ports whose closed connections wait in TIME_WAIT, serve must "
    "test them the way the servers bind (with SO_REUSEADDR): see tests/harness/ports.py."
)


class Output:
    """What a process prints, read by a thread so that every wait for it has a bound."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        stream = process.stdout

        def read() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def _next_line(self, deadline: float) -> str | None:
        """The next line printed before ``deadline``; None once the output ends or time is up."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            line = self._queue.get(timeout=left)
        except queue.Empty:
            return None
        if line is not None:
            self.lines.append(line)
        return line

    def until(self, marker: str, within: float = STARTUP_TIMEOUT, hint: str = "") -> str:
        """Everything printed up to ``marker``; fails, adding ``hint``, if it is not printed
        ``within`` s."""
        deadline = time.monotonic() + within
        while (line := self._next_line(deadline)) is not None:
            if marker in line:
                return self.text
        if time.monotonic() < deadline:
            pytest.fail(f"It ended before printing {marker!r}.{hint} It printed:\n{self.text}")
        pytest.fail(
            f"serve did not print {marker!r} within {within:g} s.{hint} It printed:\n{self.text}"
        )

    def rest(self, within: float = 5.0) -> str:
        """Everything printed, once the output ends (or ``within`` s have passed)."""
        deadline = time.monotonic() + within
        while self._next_line(deadline) is not None:
            pass
        return self.text


def serve_env(
    stage: str, chosen: dict[str, int] | None = None
) -> tuple[dict[str, str], dict[str, int]]:
    """The environment that runs ``stage`` on ``chosen`` ports (free ones by default)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests"), "PYTHONDONTWRITEBYTECODE": "1"}
    taken = {}
    for process in STAGES[stage].processes:
        taken[process.name] = (chosen or {}).get(process.name) or free_port()
        env[process.port_env] = str(taken[process.name])
    return env, taken


def start(
    command: list[str], env: dict[str, str], *, new_session: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_session,
    )


def start_serve(
    stage: str, data_dir: Path, chosen: dict[str, int] | None = None
) -> tuple[subprocess.Popen[str], Output, dict[str, int]]:
    """``python -m harness.serve STAGE`` on ``chosen`` ports (or free ones)."""
    env, taken = serve_env(stage, chosen)
    command = [sys.executable, "-m", "harness.serve", stage, "--data-dir", str(data_dir)]
    serve = start(command, env)
    return serve, Output(serve), taken


def tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and every process it started, still running or not yet reaped."""
    top = psutil.Process(pid)
    return [top, *top.children(recursive=True)]


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid} ({' '.join(process.cmdline())[:150]})"
    except psutil.Error:
        return f"pid {process.pid}"


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def left_running(processes: list[psutil.Process], within: float) -> list[psutil.Process]:
    """Which of ``processes`` are still running after ``within`` s (fewer, sooner)."""
    deadline = time.monotonic() + within
    while (still := [p for p in processes if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return still


def kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        if alive(process):
            process.kill()


def takes_connections(port: int) -> bool:
    """Whether ``port`` takes a connection; an AssertionError naming the error if not."""
    with socket.socket() as sock:
        sock.settimeout(5)
        number = sock.connect_ex(("127.0.0.1", port))
    assert number == 0, errno.errorcode.get(number, str(number))
    return True


def stop_serve(serve: subprocess.Popen[str], output: Output, signum: int) -> str:
    """Send ``signum`` and return what serve printed until it ended."""
    serve.send_signal(signum)
    try:
        serve.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_all(tree(serve.pid))
        pytest.fail(
            f"serve was still running {STOP_TIMEOUT:g} s after {signum!r}:\n{output.rest()}"
        )
    return output.rest()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder for serve that others may pass through: PostgreSQL, run as the postgres
    user when the checks run as root, keeps its files there (pytest's are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="chat-serve-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_serve_runs_a_stage_with_demo_rooms_and_stops_on_ctrl_c(stage: str, data_dir: Path) -> None:
    serve, output, _ = start_serve(stage, data_dir)
    try:
        printed = output.until(READY)
        rooms_url = re.search(r"Chat rooms:\s+(\S+)", printed)
        password = re.search(r"user admin, password (\S+)", printed)
        assert rooms_url and password, f"serve did not print the URL and login:\n{printed}"

        logins = re.findall(r"Chat as:\s+user (\S+), password (\S+)", printed)
        headers = {}
        if "auth" in STAGES[stage].features:
            assert logins, f"serve did not print the demo people to log in as:\n{printed}"
            login_url = rooms_url.group(1).replace("/chats/", "/accounts/login/")
            headers["Cookie"] = http.log_in(login_url, *logins[0])
        page = http.request(rooms_url.group(1), headers=headers)
        assert page.status == 200 and "Lobby" in page.text, "the demo rooms are not listed"
        kept = "postgresql" if "postgresql" in STAGES[stage].services else "db.sqlite3"
        assert (data_dir / kept).exists(), "the database is not in --data-dir"
    finally:
        rest = stop_serve(serve, output, signal.SIGINT)
    assert serve.returncode == 0, f"serve did not stop cleanly on Ctrl-C:\n{rest}"
    assert "Stopped" in rest
    with pytest.raises(OSError):
        http.request(rooms_url.group(1), timeout=2)  # nothing answers any more


def ctrl_c(nox: subprocess.Popen[str], serve: psutil.Process) -> None:
    """What a terminal does on Ctrl-C: SIGINT to the foreground process group (nox's)."""
    os.killpg(nox.pid, signal.SIGINT)


def to_nox(signum: int) -> Callable[[subprocess.Popen[str], psutil.Process], None]:
    """``kill -SIG`` of the nox command, the way `timeout`, a process manager or a closing
    terminal sends it."""
    return lambda nox, serve: nox.send_signal(signum)


def kill_serve(nox: subprocess.Popen[str], serve: psutil.Process) -> None:
    """``kill -9`` of serve itself (or the out-of-memory killer)."""
    serve.kill()


STOPS = {
    "Ctrl-C": ctrl_c,
    "SIGINT": to_nox(signal.SIGINT),
    "SIGTERM": to_nox(signal.SIGTERM),
    "SIGHUP": to_nox(signal.SIGHUP),
    "SIGKILL": to_nox(signal.SIGKILL),
    "SIGKILL-serve": kill_serve,
}
CAUGHT = ("Ctrl-C", "SIGINT", "SIGTERM", "SIGHUP")
"""The stops nox can catch: it passes them on to serve and waits for it."""


@contextmanager
def nox_serve(
    stage: str, data_dir: Path
) -> Iterator[tuple[subprocess.Popen[str], Output, dict[str, int]]]:
    """``nox -s serve -- STAGE`` as a person types it, in a terminal session of its own;
    whatever it leaves running is killed on leaving."""
    env, taken = serve_env(stage)
    command = [*nox_command(), "-s", "serve", "--", stage, "--data-dir", str(data_dir)]
    nox = start(command, env, new_session=True)
    output = Output(nox)
    seen: list[psutil.Process] = []
    try:
        output.until(READY)
        seen += tree(nox.pid)
        yield nox, output, taken
    finally:
        kill_all(seen)
        if nox.poll() is None:
            nox.kill()
        nox.wait(STOP_TIMEOUT)


@pytest.mark.parametrize("how", list(STOPS))
def test_the_command_people_type_stops_every_server_however_it_is_stopped(
    how: str, tmp_path: Path
) -> None:
    """Ctrl-C, `kill`, a closing terminal, even `kill -9` of nox or of serve: no process
    that `nox -s serve` started may go on holding a port."""
    with nox_serve("part2", tmp_path) as (nox, output, taken):
        started = tree(nox.pid)
        servers = [p for p in started if "harness.serve" in " ".join(p.cmdline())]
        assert servers, f"nox did not start harness.serve: {[describe(p) for p in started]}"
        for name, port in taken.items():  # a loaded machine may be slow to take one
            wait_for(
                partial(takes_connections, port),
                f"serve said it was ready, yet its {name} port {port} took no connection. "
                f"It printed:\n{output.text}",
                timeout=STARTUP_TIMEOUT,
            )

        STOPS[how](nox, servers[0])

        still = left_running(started, STOP_TIMEOUT)
        printed = output.rest()
        assert not still, (
            f"{STOP_TIMEOUT:g} s after {how}, `nox -s serve -- part2` had left running: "
            f"{'; '.join(describe(p) for p in still)}. See the stop signals in "
            f"tests/harness/serve.py and the serve session in noxfile.py. It printed:\n{printed}"
        )
        busy = {
            name: port for name, port in taken.items() if ports.listen_problem("127.0.0.1", port)
        }
        assert not busy, f"After {how}, ports {busy} were still in use. It printed:\n{printed}"
        if how != "SIGKILL-serve":
            assert "every server is down" in printed, (
                f"On {how}, serve did not stop its servers itself: did nox kill it first? (see "
                f"terminate_timeout in the serve session of noxfile.py). It printed:\n{printed}"
            )
        if how in CAUGHT:
            assert nox.poll() == 0, (
                f"On {how}, nox ended with exit code {nox.poll()} instead of waiting for serve "
                f"to stop its servers (see the serve session in noxfile.py). It printed:\n{printed}"
            )


def plain_bind_error(port: int) -> int | None:
    """The error number a plain ``bind()`` (no SO_REUSEADDR) meets on ``port``, if any."""
    with socket.socket() as plain:
        try:
            plain.bind(("127.0.0.1", port))
        except OSError as error:
            return error.errno
    return None


def test_serve_starts_again_at_once_after_stopping_with_a_client_connected(tmp_path: Path) -> None:
    """The connections a stopped server closed wait in TIME_WAIT for a minute; the port is
    free for a server all the same, and serve must not say it is in use."""
    serve, output, taken = start_serve("part2", tmp_path)
    try:
        output.until(READY)
        client = open_silent_client(
            "127.0.0.1", taken["chatserver"], "/ws/1",
            origin=f"http://127.0.0.1:{taken['django']}", timeout=10,
        )  # fmt: skip
    except BaseException:
        stop_serve(serve, output, signal.SIGINT)
        raise
    with client:
        stop_serve(serve, output, signal.SIGINT)
        closed, _ = read_until_closed(client, within=STOP_TIMEOUT)
        assert closed, "the chat server did not close its connection when serve stopped"
    assert plain_bind_error(taken["chatserver"]) == errno.EADDRINUSE, (
        "The stopped chat server left no connection in TIME_WAIT (a plain bind() works), "
        "so this check could not test a restart on such a port."
    )

    again, output, _ = start_serve("part2", tmp_path, taken)
    try:
        output.until(READY, hint=TIME_WAIT_HINT)
    finally:
        stop_serve(again, output, signal.SIGINT)


@contextmanager
def listening_program() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Another program, listening on a port: its process and the port."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        yield holder, int(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait(STOP_TIMEOUT)


def test_serve_refuses_a_port_another_program_listens_on_and_names_it(tmp_path: Path) -> None:
    with listening_program() as (holder, port):
        serve, output, _ = start_serve("part2", tmp_path, {"chatserver": port})
        try:
            serve.wait(STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_all(tree(serve.pid))
        printed = output.rest()
    assert serve.returncode == 1, f"serve started although port {port} was taken:\n{printed}"
    assert f"Port {port} on 127.0.0.1 is already in use by pid {holder.pid}" in printed, printed
    assert "port_holder" in printed, f"serve did not say what holds the port:\n{printed}"
    assert "CHAT_PORT=" in printed and "Traceback" not in printed, printed


def test_a_port_whose_holder_cannot_be_found_is_named_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ports, "holders_from_proc", lambda port: [])
    monkeypatch.setattr(ports, "holders_from_lsof", lambda port: [])
    with listening_program() as (_, port):
        problem = ports.listen_problem("127.0.0.1", port)
    assert problem is not None and problem.another_port_helps
    assert problem.text == (
        f"Port {port} on 127.0.0.1 is already in use: another program listens there "
        "(this machine would not say which)."
    )


RoomSite = tuple[Path, dict[str, int], str]
"""A served room: its data folder, its ports, and the secret key its first run made."""


@pytest.fixture(scope="module")
def room_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoomSite]:
    """``serve part2 --host 0.0.0.0`` run twice in one data folder: the first run stopped, the
    second left running for the checks; its data folder, ports and the first run's key. One
    served room for every check of the room, so that they cost two starts between them."""
    data_dir = tmp_path_factory.mktemp("room")
    env, taken = serve_env("part2")
    command = [sys.executable, "-m", "harness.serve", "part2", "--data-dir", str(data_dir)]
    for run in ("first", "second"):
        serve = start([*command, "--host", "0.0.0.0"], env)
        output = Output(serve)
        try:
            output.until(READY)
        except BaseException:
            stop_serve(serve, output, signal.SIGINT)
            raise
        if run == "first":
            stop_serve(serve, output, signal.SIGINT)
            first_key = (data_dir / room.SECRET_KEY_FILE).read_text()
    try:
        yield data_dir, taken, first_key
    finally:
        stop_serve(serve, output, signal.SIGINT)


def as_named(port: int, path: str, name: str) -> http.Response:
    """GET ``path`` from the room's pages on this machine, as a browser that typed ``name``."""
    return http.request(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{name}:{port}"})


def test_a_room_answers_to_every_name_of_the_machine_and_to_no_other(
    room_site: RoomSite,
) -> None:
    _, taken, _ = room_site
    for name in (socket.gethostname(), *room.interface_addresses()):
        page = as_named(taken["django"], "/chats/", name)
        assert page.status == 200 and "Lobby" in page.text, (
            f"A room served with --host 0.0.0.0 answered {page.status} to Host {name!r}, one of "
            "this machine's names: allow every name and address (harness/room.py)."
        )
    assert as_named(taken["django"], "/chats/", "elsewhere.example").status == 400
    origin = f"http://{socket.gethostname()}:{taken['django']}"
    with open_silent_client("127.0.0.1", taken["chatserver"], "/ws/1", origin=origin, timeout=10):
        pass  # the chat server took a page of the machine's host name: its origins include it


def test_a_room_runs_as_deployed_with_a_key_of_its_own(
    room_site: RoomSite,
) -> None:
    data_dir, taken, first_key = room_site
    missing = as_named(taken["django"], "/no-such-page/", socket.gethostname())
    assert missing.status == 404 and "DEBUG = True" not in missing.text, (
        "A room's 404 page is Django's debug page: a room must run with DJANGO_DEBUG=0."
    )
    script = as_named(taken["django"], "/static/chat/chat.js", socket.gethostname())
    assert script.status == 200, "No static files: with DEBUG off, runserver needs --insecure."
    key = data_dir / room.SECRET_KEY_FILE
    assert key.stat().st_mode & 0o077 == 0, "others than its owner may read the room's key"
    assert key.read_text() == first_key, "a restart made a new key: everyone was logged out"
    logs = "".join(path.read_text() for path in (data_dir / "logs").glob("*/*.log"))
    assert "DJANGO_SECRET_KEY is not set" not in logs, "the room runs on the public development key"


def test_each_run_of_a_room_logs_to_a_folder_of_its_own_with_no_traceback(
    room_site: RoomSite,
) -> None:
    data_dir, _, _ = room_site
    runs = sorted(p for p in (data_dir / "logs").iterdir() if not p.is_symlink())
    latest = data_dir / "logs" / "latest"
    assert len(runs) == 2, f"Two runs of serve should leave two log folders, not {runs}."
    assert latest.resolve() == runs[-1].resolve(), "logs/latest is not the newest run's folder"
    first = {path.name: path.read_text() for path in runs[0].glob("*.log")}
    assert set(first) == {"django.log", "chatserver.log"}, f"the first run logged {set(first)}"
    for name, text in first.items():
        assert "Traceback" not in text and '" 400 ' not in text, (
            f"The first run's {name} has a traceback or a refused request, though nobody but "
            f"serve itself asked anything of it (its readiness probe?):\n{text}"
        )


# -- scale_out as several processes behind HAProxy -----------------------------------------------


def served_processes(started: list[psutil.Process]) -> tuple[int, int]:
    """How many chat processes (twistd) and balancers (haproxy) are among ``started``."""
    commands = [" ".join(process.cmdline()) for process in started if alive(process)]
    chat = sum("chatserver.tac" in command for command in commands)
    return chat, sum("haproxy" in command for command in commands)


def test_serve_runs_processes_behind_one_address_and_ctrl_c_ends_them_all(
    data_dir: Path,
) -> None:
    """``serve scale_out --processes 3``: one URL for people, three chat processes, HAProxy,
    PostgreSQL and Redis, and Ctrl-C stops every one of them.

    SIGTERM and SIGHUP take the very same way out of serve as Ctrl-C (stop_on_signals), and
    test_the_command_people_type_stops_every_server_however_it_is_stopped proves each; this
    proves that the way out stops every process a cluster adds. One start: each costs half a
    minute on a busy machine."""
    env, taken = serve_env("scale_out")
    command = [sys.executable, "-m", "harness.serve", "scale_out", "--processes", "3"]
    serve = start([*command, "--data-dir", str(data_dir)], env)
    output = Output(serve)
    try:
        printed = output.until(READY)
        started = tree(serve.pid)
        rooms_urls = re.findall(r"Chat rooms:\s+(\S+)", printed)
        logins = re.findall(r"Chat as:\s+user (\S+), password (\S+)", printed)
        assert len(rooms_urls) == 1 and logins, f"not one URL and the logins:\n{printed}"
        assert served_processes(started) == (3, 1), (
            f"serve --processes 3 should run 3 chat processes and HAProxy; it runs "
            f"{[describe(p) for p in started]}"
        )
        login_url = rooms_urls[0].replace("/chats/", "/accounts/login/")
        page = http.request(rooms_urls[0], headers={"Cookie": http.log_in(login_url, *logins[0])})
        assert page.status == 200 and "Lobby" in page.text, "the demo rooms are not listed"
        assert str(taken["site"]) in rooms_urls[0], "the one URL is not the balancer's port"
    finally:
        rest = stop_serve(serve, output, signal.SIGINT)
    still = left_running(started, STOP_TIMEOUT)
    kill_all(still)  # a failing serve must not leave them behind for the next check
    assert not still, (
        f"{STOP_TIMEOUT:g} s after Ctrl-C, serve --processes 3 had left running: "
        f"{'; '.join(describe(p) for p in still)}. It printed:\n{rest}"
    )
    assert serve.returncode == 0 and "every server is down" in rest, rest


def test_serve_refuses_processes_for_a_stage_in_one_process_in_one_line(tmp_path: Path) -> None:
    env, _ = serve_env("part2")
    command = [sys.executable, "-m", "harness.serve", "part2", "--processes", "2"]
    refused = subprocess.run(
        [*command, "--data-dir", str(tmp_path)], env=env, cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=STARTUP_TIMEOUT,
    )  # fmt: skip
    said = (refused.stdout + refused.stderr).strip()
    assert refused.returncode != 0 and len(said.splitlines()) == 1, said
    assert "--processes" in said and "scale_out" in said, said
    assert not list(tmp_path.iterdir()), "serve started something before it refused"
