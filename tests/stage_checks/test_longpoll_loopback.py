"""Part 3's long-poll API on the real chat server, over a loopback connection.

The harness starts the stage's processes, and these checks use plain HTTP (urllib,
http.client, a bare socket) beside the ``websockets`` client, as a browser without
WebSockets and one with them would. Every wait has a deadline, so a check fails with a
message instead of hanging.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import http as plain_http
from harness import waits
from harness.longpoll_client import JSON, LongPollClient, raw_exchange
from harness.memory_http import request_bytes
from harness.processes import SiteWith, StageProcesses
from harness.protocol import known_fields
from harness.wsclient import django_origin, joined, read_handshake_response

pytestmark = pytest.mark.needs("longpoll")


def chat_base(site: StageProcesses) -> str:
    return site.url("chatserver", "")


def poller(site: StageProcesses, room: int, timeout: float | None = None) -> LongPollClient:
    """A long-poll client in ``room``, as a page from the Django site would be."""
    return LongPollClient(
        chat_base(site),
        room,
        origin=django_origin(site),
        timeout=timeout or waits.MAX_WAIT,
        headers=site.credentials(),
    )


def texts(messages: list[JSON]) -> list[Any]:
    return [message.get("text") for message in messages]


# -- the shared site, with the default settings -----------------------------------------------


def test_a_websocket_client_and_a_long_poll_client_talk_both_ways(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    with joined(site, room) as socket_client, ThreadPoolExecutor(1) as pool:
        polling = poller(site, room)
        start = polling.start()
        assert (start["messages"], start["cursor"]) == ([], 0), (
            f"A first poll (no ?after=) in a new room should bring no messages and cursor 0: "
            f"{start}."
        )
        # The poll may reach the server before the message (and wait for it) or after it
        # (and find it in the room's history): either way it must bring the message.
        waiting = pool.submit(polling.poll, "a WebSocket client's message")
        socket_client.send_json({"text": "hello from a socket"})
        own = socket_client.receive("the WebSocket client's own message back")
        answer = waiting.result(timeout=2 * waits.MAX_WAIT)
        assert answer["messages"] == [own] and answer["cursor"] == own.get("id"), (
            f"A long-poll client in room {room} should receive the WebSocket client's message "
            f"{own} and move its cursor to its id; it got {answer}. Check that broadcast() "
            "keeps the message in the room's history and answers the room's waiting polls."
        )

        posted = polling.send("hello from http")
        assert posted.status == 201, (
            f"POST /rooms/{room}/messages answered {posted.status} {posted.body[:200]!r}, "
            "not 201 with the message."
        )
        heard = socket_client.receive("the long-poll client's message")
        assert heard == posted.json(), (
            f"A message posted over HTTP ({posted.json()}) never reached the WebSocket client "
            f"in the same room, which got {heard}; check that POST goes through the same "
            "broadcast as WebSocket messages."
        )
        back = polling.poll("the long-poll client's own message")
        assert texts(back["messages"]) == ["hello from http"] and back["missed"] is False, (
            f"The long-poll client should get its own message back, as WebSocket clients do: "
            f"{back}."
        )


def test_messages_in_one_room_do_not_reach_a_long_poll_client_in_another(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    talking, quiet = new_room(), new_room()
    with joined(site, talking) as socket_client:
        socket_client.send_json({"text": "only for this room"})
        socket_client.receive("the message back")
        assert poller(site, talking).send("also only here").status == 201
    answer = poller(site, quiet).start()
    assert answer["room"] == quiet and answer["cursor"] == 0, (
        f"Two messages were sent in room {talking}, yet room {quiet}, where nobody spoke, "
        f"answers with cursor {answer['cursor']}: {answer}. Keep message ids and history "
        "per room."
    )


@pytest.mark.needs("two_origins")  # one process, one origin: no status page, no CORS
def test_the_django_site_may_use_the_api_and_other_pages_may_not(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    url = site.url("chatserver", f"/rooms/{room}/messages")
    origin = django_origin(site)
    answer = plain_http.request(url, headers={"Origin": origin})
    assert answer.headers.get("Access-Control-Allow-Origin") == origin, (
        f"A poll from the Django site ({origin}) should be answered with "
        f"Access-Control-Allow-Origin: {origin}, or its page cannot read the answer; it had "
        f"{answer.headers.get('Access-Control-Allow-Origin')!r}."
    )
    assert "Origin" in (answer.headers.get("Vary") or ""), "Answers need Vary: Origin."
    exposed = (answer.headers.get("Access-Control-Expose-Headers") or "").lower()
    assert "retry-after" in exposed, (
        "A page from the Django site cannot read Retry-After (how long to wait after a 429 or "
        "503) unless the answer says Access-Control-Expose-Headers: Retry-After."
    )

    preflight = plain_http.request(
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status == 204 and "POST" in (
        preflight.headers.get("Access-Control-Allow-Methods") or ""
    ), (
        f"The browser's question before a page POSTs JSON (OPTIONS) got {preflight.status} "
        f"with {dict(preflight.headers)}; answer 204 with Access-Control-Allow-Methods, "
        "-Headers and -Max-Age."
    )
    assert (preflight.headers.get("Access-Control-Allow-Headers") or "").lower() == "content-type"

    for stranger in ("http://evil.example", "null"):
        for method, body in (("GET", None), ("POST", b'{"text": "hi"}'), ("OPTIONS", None)):
            refused = plain_http.request(
                url,
                method=method,
                body=body,
                headers={"Origin": stranger, "Content-Type": "application/json"},
            )
            assert refused.status == 403 and refused.json().get("code") == "forbidden_origin", (
                f"{method} from a page on {stranger} was answered {refused.status} "
                f"{refused.body[:200]!r}; only the Django site's pages may use the API: "
                "answer 403 forbidden_origin."
            )
            assert refused.headers.get("Access-Control-Allow-Origin") is None


def test_bad_requests_are_answered_with_json_errors(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    base = chat_base(site)
    json_post = {"Content-Type": "application/json"}
    cases = [
        ("GET", "/rooms/999999999/messages?after=0", None, {}, 404, "no_such_room"),
        ("GET", "/rooms/abc/messages", None, {}, 404, "no_such_room"),
        ("GET", f"/rooms/{room}/messages?after=x", None, {}, 400, "invalid_cursor"),
        ("POST", f"/rooms/{room}/messages", b"not json", json_post, 400, "invalid_json"),
        ("POST", f"/rooms/{room}/messages", b'{"text": "hi"}', {}, 415, "unsupported_media_type"),
        ("DELETE", f"/rooms/{room}/messages", None, {}, 405, "method_not_allowed"),
    ]
    for method, path, body, headers, status, code in cases:
        headers = {**site.credentials(), **headers}
        answer = plain_http.request(base + path, method=method, body=body, headers=headers)
        content_type = answer.headers.get("Content-Type") or ""
        assert answer.status == status and content_type.startswith("application/json"), (
            f"{method} {path} was answered {answer.status} ({content_type}) "
            f"{answer.body[:200]!r}, not {status} with a JSON error."
        )
        assert answer.json().get("code") == code, (
            f"{method} {path} should be answered with code {code!r}: {answer.json()}."
        )
    assert "GET" in (answer.headers.get("Allow") or ""), "A 405 answer needs an Allow header."


@pytest.mark.parametrize("framing", ["oversized", "chunked"])
def test_a_body_the_server_will_not_take_is_refused_before_it_is_sent(
    site: StageProcesses, framing: str, new_room: Callable[[], int]
) -> None:
    room = new_room()
    with joined(site, room) as socket_client:
        max_bytes = socket_client.welcome["limits"]["max_bytes"]
    headers = {"Content-Type": "application/json", "Origin": django_origin(site)}
    if framing == "oversized":
        headers["Content-Length"] = str(max_bytes + 1)
        status, code = 413, "too_large"
    else:
        headers["Transfer-Encoding"] = "chunked"
        status, code = 411, "length_required"
    # Only the headers go out: a server that waits for the body never answers.
    received = raw_exchange(
        chat_base(site),
        request_bytes("POST", f"/rooms/{room}/messages", headers),
        timeout=waits.MAX_WAIT,
    )
    found = read_handshake_response(received)
    assert found is not None and found[0].status == status, (
        f"Headers announcing a {framing} body should be answered {status} at once, before "
        f"any of the body is sent; the server sent {received[:300]!r}. Refuse it in gotLength."
    )
    _, length = found
    assert json.loads(received[length:]).get("code") == code


# -- a chat server of its own, with loose limits ---------------------------------------------

POLL_TIMEOUT = 1.0

LOOSE_SETTINGS = {
    "CHAT_RATE": "100000",
    "CHAT_BURST": "100000",
    "CHAT_HISTORY": "1000",
    "CHAT_POLL_TIMEOUT": str(POLL_TIMEOUT),
}
"""One client may send hundreds of messages at once; a poll waits only a moment.

CHAT_HISTORY is larger than the 500-message burst below, so the history still holds every
message a lagging long-poll client has not fetched yet: if it reports one missed, or one
never arrives, the server lost it. The pages stay CHAT_POLL_PAGE (50) long, so the client
must come back again and again while the burst goes on, as a real one would.
"""

BURST = 500


@pytest.fixture(scope="module")
def loose_site(
    site_with: SiteWith,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StageProcesses]:
    """The stage's servers once more, started with LOOSE_SETTINGS."""
    with site_with(tmp_path_factory.mktemp("loose"), LOOSE_SETTINGS) as running:
        yield running


def collect(client: LongPollClient, count: int, within: float) -> tuple[list[JSON], list[JSON]]:
    """Poll until ``count`` messages have come, or ``within`` seconds have passed.

    Returns the messages and every answer.
    """
    messages: list[JSON] = []
    answers: list[JSON] = []
    deadline = time.monotonic() + within
    while len(messages) < count and time.monotonic() < deadline:
        answer = client.poll(f"message {len(messages) + 1} of {count}")
        answers.append(answer)
        messages.extend(answer["messages"])
    return messages, answers


def test_a_burst_over_websocket_reaches_a_long_poll_client_complete_in_order_once(
    loose_site: StageProcesses,
) -> None:
    room = loose_site.new_room()
    polling = poller(loose_site, room, timeout=waits.MAX_WAIT + POLL_TIMEOUT)
    polling.start()
    within = 6 * waits.MAX_WAIT
    with joined(loose_site, room) as sender, ThreadPoolExecutor(1) as pool:
        arriving = pool.submit(collect, polling, BURST, within)
        for number in range(1, BURST + 1):
            sender.send_json({"text": f"burst {number:03d}"})
        echoes = sender.receive_many(BURST, "the burst's messages back")
        refused = [echo for echo in echoes if echo.get("type") != "message"]
        assert not refused, (
            f"This server runs with {LOOSE_SETTINGS}, yet it refused {refused[:2]}. Check that "
            "Config.from_environ reads every CHAT_ variable."
        )
        messages, answers = arriving.result(timeout=within + polling.timeout + 1)
    missed = [answer for answer in answers if answer["missed"]]
    assert not missed, (
        f"The long-poll client was told it missed messages although the room's history "
        f"({LOOSE_SETTINGS['CHAT_HISTORY']}) holds the whole burst: {missed[0]}. Check "
        "messages_after and the missed flag."
    )
    got = [(message.get("id"), message.get("text")) for message in messages]
    expected = [(number, f"burst {number:03d}") for number in range(1, BURST + 1)]
    assert got == expected, (
        f"A long-poll client polling while {BURST} messages were sent over WebSocket should "
        f"get each exactly once, in order, with ids 1 to {BURST}, but {difference(got, expected)}. "
        "Answer each poll with the messages after its cursor, and set the cursor to the last "
        "message returned."
    )


def difference(got: list[Any], expected: list[Any]) -> str:
    """Where two lists of (id, text) part, in words."""
    for position, (seen, due) in enumerate(zip(got, expected, strict=False), start=1):
        if seen != due:
            return f"message {position} was {seen} where {due} was due"
    return f"{len(got)} messages arrived"


def test_a_waiting_poll_is_answered_empty_when_its_time_is_up(loose_site: StageProcesses) -> None:
    quiet, busy = loose_site.new_room(), loose_site.new_room()
    polling = poller(loose_site, quiet, timeout=waits.MAX_WAIT + POLL_TIMEOUT)
    cursor = polling.start()["cursor"]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            polling.poll, f"a poll in a quiet room to time out ({POLL_TIMEOUT} s)"
        )
        assert poller(loose_site, busy).send("in the other room").status == 201
        answer = waiting.result(timeout=2 * (waits.MAX_WAIT + POLL_TIMEOUT))
    timed_out = {"room": quiet, "messages": [], "cursor": cursor, "missed": False}
    assert known_fields(answer, timed_out) == timed_out, (
        f"With CHAT_POLL_TIMEOUT={POLL_TIMEOUT}, a poll in a room where nobody speaks should "
        f'be answered {{"room": {quiet}, "messages": [], "cursor": {cursor}, "missed": false}} '
        f"when its time is up (a message in another room changes nothing), not {answer}."
    )


# -- stopping and starting again ------------------------------------------------------------

STOP_SETTINGS = {"CHAT_POLL_TIMEOUT": "60", "CHAT_MAX_PARKED": "1"}
"""Polls wait long enough that only the server stopping can answer them. One waiting poll
per room: when a second poll is turned away (503), the check knows the first is waiting."""


@pytest.fixture
def stop_site(site_with: SiteWith, tmp_path: Path) -> Iterator[StageProcesses]:
    """The stage's servers once more, started with STOP_SETTINGS, for a check to stop."""
    with site_with(tmp_path / "stop", STOP_SETTINGS) as running:
        yield running


def ask(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[int, JSON]:
    """GET ``path`` on a connection of its own; the status and the JSON answer."""
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


@pytest.mark.needs("memory_only")  # from chapter 06 on, ids carry on after a restart
def test_a_stopping_server_answers_waiting_polls_and_a_restart_is_reported_as_missed(
    stop_site: StageProcesses,
) -> None:
    room = stop_site.new_room()
    polling = poller(stop_site, room)
    polling.start()
    for number in range(1, 4):
        assert polling.send(f"before the restart {number}").status == 201
    assert polling.poll("the three messages before the restart")["cursor"] == 3

    parts = urlsplit(chat_base(stop_site))
    assert parts.hostname is not None
    connections = [
        http.client.HTTPConnection(parts.hostname, parts.port, timeout=2 * waits.MAX_WAIT)
        for _ in range(2)
    ]
    path = f"/rooms/{room}/messages?after=3"
    headers = {"Origin": django_origin(stop_site), **stop_site.credentials()}
    try:
        with ThreadPoolExecutor(2) as pool:
            polls = [pool.submit(ask, connection, path, headers) for connection in connections]
            done, _ = wait(polls, timeout=waits.MAX_WAIT, return_when=FIRST_COMPLETED)
            first = next(iter(done)).result() if done else None
            assert first is not None and first[0] == 503, (
                f"With CHAT_MAX_PARKED=1, of two polls with nothing new in room {room}, one "
                "should wait and the other be turned away at once with 503 too_many_waiting; "
                f"the first answer within {waits.MAX_WAIT:g} s was {first}."
            )
            waiting = next(poll for poll in polls if poll not in done)
            stop_site.stop_process("chatserver")
            try:
                status, answer = waiting.result(timeout=waits.MAX_WAIT)
            except (http.client.HTTPException, OSError) as problem:
                pytest.fail(
                    f"A poll waiting when the chat server stopped was cut off ({problem!r}) "
                    "instead of answered. Answer every waiting poll in the stopService of a "
                    "service added to the application in chatserver.tac."
                )
    finally:
        for connection in connections:
            connection.close()
        stop_site.start_process("chatserver")
    unchanged = {"room": room, "messages": [], "cursor": 3, "missed": False}
    assert (status, known_fields(answer, unchanged)) == (200, unchanged), (
        f"A poll waiting when the server stopped should be answered 200 with no messages and "
        f"its cursor (3) unchanged, not {status} {answer}."
    )

    assert polling.send("after the restart").status == 201
    after = polling.poll("the first poll after a restart, with a cursor from before it")
    assert texts(after["messages"]) == ["after the restart"] and after["missed"] is True, (
        "After a restart the room's ids begin again at 1, so a client's cursor (3) is ahead "
        "of the room's last id (1). It should get the room's whole history with missed: true "
        f"so it knows to start afresh; it got {after}."
    )
    assert after["cursor"] == 1
