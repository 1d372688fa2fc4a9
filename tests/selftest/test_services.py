"""The throw-away PostgreSQL and Redis servers: they start, keep (or keep nothing) across a
restart, lock when asked, say plainly when they cannot start, and name what to install."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness import services
from harness.databases import PostgresDatabase
from harness.services import PostgresServer, RedisServer, ServiceError
from harness.stages import REPO_ROOT
from selftest.nox_runs import nox_command

NOX_TIMEOUT = 600.0
"""Seconds the nox run below may take: it may have to make the session's environment."""


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


def test_postgres_restarts_on_the_same_port_with_the_same_data(postgres: PostgresServer) -> None:
    postgres.create_database("template_kept")
    with postgres.connect("template_kept") as connection:
        connection.execute("CREATE TABLE said (words text)")
        connection.execute("INSERT INTO said VALUES ('kept')")
    postgres.create_database("kept", template="template_kept")
    port = postgres.port
    postgres.restart()
    assert postgres.port == port
    with postgres.connect("kept") as connection:
        rows = connection.execute("SELECT words FROM said").fetchall()
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert pid is not None
        # Asked while connected: the backend process ends with its connection.
        owner = psutil.Process(pid[0]).username()
    assert rows == [("kept",)], f"the copy of the template lost its row in a restart: {rows}"
    if os.geteuid() == 0:
        assert owner == "postgres", f"as root, PostgreSQL must run as postgres, not {owner}"
    postgres.drop_database("kept")
    assert not postgres.has_database("kept")


def test_a_locked_database_makes_every_query_wait(postgres: PostgresServer) -> None:
    import psycopg

    database = PostgresDatabase(postgres, "locked")
    database.create()
    with postgres.connect("locked") as connection:
        connection.execute("CREATE TABLE django_session (key text)")
    with postgres.connect("locked") as asking:
        asking.autocommit = True
        asking.execute("SET lock_timeout = '100ms'")  # a query that waits fails, then
        with database.locked(), pytest.raises(psycopg.errors.LockNotAvailable):
            asking.execute("SELECT * FROM django_session")
        assert asking.execute("SELECT count(*) FROM django_session").fetchone() == (0,)


def redis_says(server: RedisServer, command: bytes) -> bytes:
    """One command in Redis's inline form, and the first line of its answer."""
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        connection.sendall(command + b"\r\n")
        return connection.makefile("rb").readline().rstrip()


def test_redis_restarts_on_the_same_port_and_keeps_nothing(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as redis:
        assert redis.url == f"redis://127.0.0.1:{redis.port}/0"
        assert redis_says(redis, b"SET said kept") == b"+OK"
        redis.restart()
        assert redis_says(redis, b"GET said") == b"$-1", "redis-server kept data on disk"
    leftovers = [path.name for path in tmp_path.iterdir() if not path.name.endswith(".log")]
    assert not leftovers, f"redis-server wrote {leftovers}: it should keep nothing on disk"


def test_a_servers_pid_is_the_process_listening_on_its_port(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """The bench counts the CPU of the process ``pid`` names as the server's own: it must be
    the one that listens (PostgreSQL's postmaster, not one of its backends)."""
    with RedisServer(tmp_path) as redis:
        for server in (postgres, redis):
            assert server.pid is not None, f"{server.name} runs, yet names no process"
            sockets = psutil.Process(server.pid).net_connections(kind="tcp")
            listening = {s.laddr.port for s in sockets if s.status == psutil.CONN_LISTEN}
            assert server.port in listening, (
                f"{server.name}'s pid {server.pid} listens on {listening}, not {server.port}"
            )
    assert redis.pid is None, "a stopped redis-server still names a process"


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = holder.getsockname()[1]
        redis = RedisServer(tmp_path, port=taken)
        with pytest.raises(ServiceError, match=f"before it answered on port {taken}") as error:
            redis.start()
    assert "Address already in use" in str(error.value), "its log's last lines should follow"


def test_missing_programs_are_named_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(services, "POSTGRES_FOLDERS", ())
    missing = services.missing_programs(["postgres", "redis-server", "haproxy"])
    line = services.install_line(missing, needed_by="nox -s scale_out")
    assert line == (
        "nox -s scale_out needs postgres, redis-server and haproxy, which are not installed: "
        "on Debian/Ubuntu `sudo apt-get install postgresql redis-server haproxy`, on macOS "
        "`brew install postgresql@17 redis haproxy`"
    )
    with pytest.raises(services.MissingProgram, match=r"^redis-server is not installed"):
        RedisServer(tmp_path).start()


def test_nox_says_what_to_install_and_runs_nothing_else(tmp_path: Path) -> None:
    """With redis-server and haproxy off PATH (PostgreSQL's own folder cannot be hidden so
    easily: Debian keeps it off PATH anyway), the session stops before installing a thing."""
    (tmp_path / "python3").symlink_to(Path(sys.base_prefix) / "bin" / "python3")
    result = subprocess.run(
        [*nox_command(), "-s", "scale_out"],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=NOX_TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"nox -s scale_out went on without its programs:\n{output}"
    said = [line for line in output.splitlines() if "not installed" in line]
    assert len(said) == 1 and "apt-get install redis-server haproxy" in said[0], output
    assert "brew install redis haproxy" in said[0], output
    assert "pip install" not in output and "pytest" not in output, output


def test_a_folder_the_postgres_user_cannot_reach_is_refused_in_plain_words(
    tmp_path: Path,
) -> None:
    """As root, serve's data folder is handed to the postgres user: one under a folder that
    is root's alone (pytest's own, or /root) could never be used, and that is said first."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(ServiceError, match="cannot reach") as refused:
        services.hand_to_postgres(private / "postgresql")
    assert f"{private} is open to root alone" in str(refused.value)
