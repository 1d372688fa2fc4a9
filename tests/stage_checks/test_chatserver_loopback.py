"""Part 2's chat server as people run it, checked over a real loopback connection.

The harness starts the stage's processes (Django, and ``twistd ... chatserver.tac``) and
these checks talk to the chat server with the ``websockets`` library: a client written by
other people, which shares no code, and no mistakes, with the server. Every wait has a
deadline (``--max-wait``), so a check fails with a message instead of hanging.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed

from harness import http, waits
from harness.longpoll_client import raw_exchange
from harness.processes import READY_TIMEOUT, SiteWith, StageProcesses, free_port, tail
from harness.protocol import PLAIN_GET_STATUS
from harness.wsclient import (
    django_origin,
    handshake_status,
    joined,
    open_silent_client,
    read_until_closed,
    room_url,
)

pytestmark = pytest.mark.needs("websocket")


@pytest.mark.needs("two_origins")  # one process, one origin: no status page, no CORS
def test_the_status_page_answers_and_other_paths_are_404(site: StageProcesses) -> None:
    answer = http.request(site.url("chatserver", "/"))
    assert answer.status == 200 and answer.text.strip() == "chat server running", (
        f"GET / on the chat server answered {answer.status} {answer.text[:80]!r}, not 200 "
        "'chat server running'. Check chatserver/resource.py."
    )
    assert answer.headers.get("Content-Type", "").startswith("text/plain")
    missing = http.request(site.url("chatserver", "/nothing/here"))
    assert missing.status == 404, f"GET /nothing/here answered {missing.status}, not 404."


@pytest.mark.needs("autobahn")
def test_a_plain_http_request_to_a_socket_url_gets_the_documented_status(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    url = site.url("chatserver", f"/ws/{new_room()}")
    request = f"GET {urlsplit(url).path} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n\r\n"
    answer = raw_exchange(url, request.encode("ascii"), timeout=waits.MAX_WAIT)
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    assert status_line == f"HTTP/1.1 {PLAIN_GET_STATUS}", (
        f"A plain GET of {url} (no request to upgrade) was answered {status_line!r}, not "
        f"'HTTP/1.1 {PLAIN_GET_STATUS}' as chapter 02 says. Check webStatus=False in "
        "chatserver/factory.py."
    )


def test_a_newcomer_is_welcomed_with_its_room_and_limits(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    with joined(site, room) as chat:
        welcome = chat.welcome
        assert welcome.get("room") == room, f"Joining room {room}, the welcome said {welcome}."
        limits = welcome.get("limits", {})
        named = ("max_length", "max_bytes", "rate", "burst")
        assert all(isinstance(limits.get(name), int | float) for name in named) and all(
            limits[name] > 0 for name in named
        ), f"The welcome's limits should include max_length, max_bytes, rate and burst: {limits}."
        agreed = chat.connection.response.headers.get("Sec-WebSocket-Extensions")
        assert agreed is None, (
            f"The websockets client offered compression and the server agreed ({agreed!r}). "
            "Compression stays off: leave perMessageCompressionAccept unset."
        )


def test_messages_stay_in_their_room_in_order_with_increasing_ids(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room_a, room_b = new_room(), new_room()
    with (
        joined(site, room_a) as alice,
        joined(site, room_a) as bob,
        joined(site, room_b) as carol,
    ):
        lines = [f"line {number}" for number in range(1, 6)]
        for line in lines:
            alice.send_json({"text": line})
        for who, chat in (("bob, in the same room", bob), ("alice, who sent them", alice)):
            got = chat.receive_many(len(lines), f"alice's messages to reach {who}")
            seen = [(m.get("type"), m.get("id"), m.get("room"), m.get("text")) for m in got]
            expected = [("message", n, room_a, line) for n, line in enumerate(lines, start=1)]
            assert seen == expected, (
                f"In a new room, {who} should see alice's 5 messages in order with ids 1 to 5, "
                f"but saw {seen}."
            )
        carol.send_json({"text": "anyone here?"})
        first = carol.receive("carol's own message in the other room")
        assert (first.get("room"), first.get("id"), first.get("text")) == (
            room_b,
            1,
            "anyone here?",
        ), (
            f"The first message carol, in room {room_b}, received was {first}, not her own "
            f"message with id 1: messages sent in room {room_a} reached room {room_b}. Check "
            "how your factory keeps clients per room."
        )


def test_bad_json_gets_an_error_and_the_connection_keeps_working(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    with joined(site, new_room()) as chat:
        chat.send_text("this is not JSON")
        error = chat.receive("an error about the bad JSON")
        assert error.get("type") == "error" and error.get("code") == "invalid_json", (
            f"Sending text that is not JSON should be answered with an invalid_json error, "
            f"not {error}."
        )
        chat.send_json({"text": "and now properly"})
        reply = chat.receive("the next, valid message to come back")
        assert reply.get("text") == "and now properly", (
            f"After a bad message the connection should keep working, but got {reply}."
        )


def test_a_message_over_the_byte_limit_closes_with_1009(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    with joined(site, new_room()) as chat:
        max_bytes = chat.welcome["limits"]["max_bytes"]
        chat.send_text(" " * (max_bytes + 1))
        try:
            reply = chat.receive(f"an answer to a message over max_bytes ({max_bytes})")
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            assert code == 1009, (
                f"A message one byte over max_bytes ({max_bytes}) should close the connection "
                f"with code 1009 (message too big), not {code}. With no code at all, the "
                "server cut the connection: set failByDrop=False so Autobahn says why."
            )
        else:
            pytest.fail(
                f"A message over max_bytes ({max_bytes}) should close the connection with "
                f"1009, but the server answered {reply!r}. Set maxMessagePayloadSize."
            )


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1"])
def test_a_page_from_another_origin_is_refused(
    site: StageProcesses, new_room: Callable[[], int], origin: str
) -> None:
    status = handshake_status(room_url(site, new_room()), origin=origin, timeout=waits.MAX_WAIT)
    assert 400 <= status < 500, (
        f"A page from {origin} was answered with HTTP {status}; only the Django site's "
        f"origins ({django_origin(site)} and its localhost twin) may open a chat."
    )


@pytest.mark.parametrize("room", ["999999999", "abc", "0", "-1", "1.5"])
def test_a_room_that_does_not_exist_is_refused_with_404(site: StageProcesses, room: str) -> None:
    status = handshake_status(
        room_url(site, room), origin=django_origin(site), timeout=waits.MAX_WAIT
    )
    assert status == 404, (
        f"A WebSocket to /ws/{room} was answered with HTTP {status}; there is no such room, "
        "so the handshake should be refused with 404."
    )


def test_a_client_that_sends_too_fast_is_told_to_wait(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    with joined(site, new_room()) as chat:
        count = 3 * chat.welcome["limits"]["burst"]
        for number in range(count):
            chat.send_json({"text": f"hurry {number}"})
        replies = chat.receive_many(count, "an answer to every message sent")
        kinds = [reply.get("code") or reply.get("type") for reply in replies]
        limited = [reply for reply in replies if reply.get("code") == "rate_limited"]
        assert limited, (
            f"{count} messages sent at once (three times the burst) were all accepted: {kinds}. "
            "Check the token bucket."
        )
        assert set(kinds) <= {"message", "rate_limited"}, f"Unexpected answers: {kinds}."
        retry_after = limited[0].get("retry_after")
        assert isinstance(retry_after, int | float) and retry_after > 0, (
            f"A rate_limited error needs retry_after, the seconds to wait: {limited[0]}."
        )


def test_a_setting_the_server_cannot_use_stops_it_with_one_line(site: StageProcesses) -> None:
    process = site.process("chatserver")
    env = {**site.env_for(process, free_port()), "CHAT_RATE": "fast"}
    try:
        result = subprocess.run(
            site.argv(process),
            cwd=site.stage_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=READY_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("With CHAT_RATE=fast the chat server started anyway; it should refuse.")
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0 and "CHAT_RATE" in output, (
        f"With CHAT_RATE=fast the chat server should stop with an error naming CHAT_RATE; it "
        f"exited with {result.returncode} and printed:\n{tail(output)}"
    )
    assert "Traceback" not in output, (
        "A bad setting should stop the server with one plain line, not a traceback. Catch "
        f"ConfigError in chatserver.tac and sys.exit() with its message. It printed:\n"
        f"{tail(output)}"
    )


# -- a client that stops reading -------------------------------------------------------------

FLOOD_SETTINGS = {
    "CHAT_RATE": "100000",
    "CHAT_BURST": "100000",
    "CHAT_MAX_LENGTH": "30000",
    "CHAT_MAX_BYTES": "131072",
    "CHAT_MAX_BUFFER": "262144",
}
"""Limits loose enough for one client to flood a room, and a small CHAT_MAX_BUFFER."""

FLOOD_BYTES = 24 * 2**20
"""More than the operating system's socket buffers hold for a client that is not reading
(a few MB), plus what CHAT_MAX_BUFFER lets the server keep, several times over."""


@pytest.fixture(scope="module")
def flood_site(
    site_with: SiteWith,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StageProcesses]:
    """The stage's servers once more, started with FLOOD_SETTINGS."""
    with site_with(tmp_path_factory.mktemp("flood"), FLOOD_SETTINGS) as running:
        yield running


def test_a_client_that_stops_reading_is_dropped_and_the_room_carries_on(
    flood_site: StageProcesses,
) -> None:
    room = flood_site.new_room()
    silent = open_silent_client(
        flood_site.host,
        flood_site.port("chatserver"),
        f"/ws/{room}",
        origin=django_origin(flood_site),
        timeout=waits.MAX_WAIT,
    )
    with silent, joined(flood_site, room) as flooder, joined(flood_site, room) as watcher:
        size = flooder.welcome["limits"]["max_length"]
        count = math.ceil(FLOOD_BYTES / size)
        for number in range(1, count + 1):
            flooder.send_json({"text": f"{number:06d}".ljust(size, "x")})
            own = flooder.receive(f"flood message {number} back")
            assert own.get("type") == "message", (
                f"This server runs with {FLOOD_SETTINGS}, yet it refused flood message "
                f"{number}: {own}. Check that Config.from_environ reads every CHAT_ variable."
            )
            seen = watcher.receive(
                f"flood message {number} of {count} to reach a client that reads, while "
                "another client in the room does not"
            )
            assert seen.get("id") == own.get("id"), (
                f"The reading client got message {seen.get('id')} where {own.get('id')} was due."
            )

        dropped, received = read_until_closed(silent, within=waits.MAX_WAIT)
        assert dropped and received < count * size, (
            f"A client that never read was not dropped: after {count} messages of {size} "
            f"bytes the server still held its connection open, and {received} bytes waited "
            "for it. Drop a client (abortConnection) once more than CHAT_MAX_BUFFER bytes "
            "pile up while its transport is paused.\n"
            f"The chat server's last lines:\n{tail(flood_site.log_text('chatserver'))}"
        )

        flooder.send_json({"text": "is everyone else still here?"})
        after = watcher.receive("a message sent after the slow client was dropped")
        assert after.get("text") == "is everyone else still here?", f"Got {after} instead."
