"""Chapter 9's scale_out as it is deployed: several chat processes behind HAProxy.

The checks of history run against the stage too, with one process. These run it as it is
meant to run: two or three copies of its one process behind the load balancer its own
haproxy.cfg describes, sharing PostgreSQL and Redis (harness/cluster.py). They check what
only several processes can get wrong: two people on two processes chat as if on one; a
logout and a rate limit count on every process; a process that hears of messages out of
order still shows them in order, once; and with a process killed under load, Redis
restarted or PostgreSQL restarted, no acknowledged message is lost or shown twice.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from websockets.exceptions import ConnectionClosed

from harness import chat_page, http, people, waits
from harness.browser import Browsers
from harness.cluster import Cluster, ClusterWith, Door, copy_name
from harness.hang_up import HangUp
from harness.longpoll_client import LongPollClient
from harness.protocol import LOGGED_OUT_CLOSE
from harness.resuming import (
    ResumingClient,
    ResumingPoller,
    ResumingSocket,
    wait_until_acknowledged,
    wait_until_caught_up,
)
from harness.wsclient import ChatConnection, django_origin, joined

pytestmark = pytest.mark.needs("scale_out")

JSON = dict[str, Any]
BUDGET = 20
"""Messages one person may send on the two-process site, all told."""
SCARCE = {"CHAT_RATE": "0.001", "CHAT_BURST": str(BUDGET)}
"""The two-process site's rate limit: a bucket of BUDGET that gains one message every 1000 s,
so that no check lasts long enough for time to change what the limit allows."""
FAST = {"CHAT_RATE": "1000", "CHAT_BURST": "1000", "CHAT_POLL_TIMEOUT": "2"}
"""No rate limit in the way of the checks that send hundreds of messages; short polls."""
MESSAGES_CHANNEL = "chat:messages"
"""Where a process publishes every message it stored (see the contract in the chapter)."""


@pytest.fixture(scope="session")
def pair(cluster_with: ClusterWith, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two chat processes behind the balancer, shared by the checks that stop none of them.

    Kept for the whole run: the browser checks run last, after other modules' checks, and a
    module's fixture would be started a second time for them."""
    with cluster_with(tmp_path_factory.mktemp("pair"), 2, SCARCE) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def trio(cluster_with: ClusterWith, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three chat processes behind the balancer, for the checks that kill or restart
    something: each leaves every process and server running again when it ends."""
    with cluster_with(tmp_path_factory.mktemp("trio"), 3, FAST) as cluster:
        yield cluster


READ_STORED = """
import json, os
from chatserver.store import messages_after
print(json.dumps(messages_after(int(os.environ["ROOM"]), 0, 1_000_000)[0]))
"""
"""Print every message of a room as the database holds it, read with the stage's own store."""


def stored_messages(cluster: Cluster, room: int) -> list[JSON]:
    """Every message of ``room`` in the database, oldest first, as clients see them: read
    from the database itself, not through a chat process that might hold a wrong picture."""
    printed = cluster.django_shell(READ_STORED, ROOM=str(room))
    return json.loads(printed.splitlines()[-1])


def new_person(cluster: Cluster, name: str) -> str:
    """A new account, logged in, that the clients can chat as: its username. Each check that
    spends a rate limit or logs out has people of its own."""
    username = f"{name}-{uuid.uuid4().hex[:6]}"
    cluster.sessions[username] = cluster.new_login(username)
    return username


# -- two people on two processes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "page", ["/chats/{room}/", "/chats/long_poll/{room}/"], ids=["websocket", "long_poll"]
)
def test_two_people_on_two_processes_chat_both_ways(
    pair: Cluster, browsers: Browsers, page: str
) -> None:
    path = page.format(room=pair.new_room())
    alice = chat_page.open_window(browsers, pair.door(1), path, people.ALICE)
    bob = chat_page.open_window(browsers, pair.door(2), path, people.BOB)
    for sender, receiver, text in ((alice, bob, "from chat1"), (bob, alice, "from chat2")):
        chat_page.send(sender, text)
        chat_page.wait_for_message(
            receiver,
            text,
            f"{text!r}, said on one chat process, never reached the page on the other. Each "
            f"process must publish every message it stored on Redis ({MESSAGES_CHANNEL}), and "
            "deliver every message it hears there to its own clients in the room.",
        )
    for window in (alice, bob):
        assert chat_page.messages(window) == ["from chat1", "from chat2"], (
            f"Each page should show both messages once, in order: {chat_page.messages(window)}."
        )


# -- the balancer's own answers ---------------------------------------------------------------


def still_sending(window: WebDriver, text: str, hang_up: HangUp, tries: int) -> bool:
    """True once the page has POSTed ``text`` ``tries`` times into HAProxy's 502s and still
    shows it as "sending…"; otherwise an AssertionError saying what the page shows, for
    wait_for to report, or False while it has not tried that often."""
    box = window.find_element(By.ID, "inputbox").get_attribute("value") or ""
    shown = chat_page.sending(window)
    assert (shown, box) == ([text], ""), (
        f"the page shows {shown} as sending…, and its box holds {box!r}"
    )
    return hang_up.asked("POST") >= tries


def shown_once(window: WebDriver, text: str) -> bool:
    """True once the page shows ``text`` once, as sent; otherwise an AssertionError saying
    what it shows, for wait_for to report."""
    shown, waiting = chat_page.messages(window), chat_page.sending(window)
    assert shown.count(text) == 1 and not waiting, (
        f"the page shows {shown}, of which {waiting} as sending…"
    )
    return True


def test_a_message_the_balancer_answers_502_for_stays_sending_and_goes_once(
    pair: Cluster, browsers: Browsers
) -> None:
    room = pair.new_room()
    sender = new_person(pair, "gateway")
    window = chat_page.open_window(browsers, pair, f"/chats/long_poll/{room}/", sender)
    text = "through a bad gateway"
    with HangUp() as hang_up, pair.diverted_to(hang_up.address):
        chat_page.send(window, text)
        waits.wait_for(
            lambda: still_sending(window, text, hang_up, tries=2),
            f"HAProxy answered the page's POST of {text!r} with 502 Bad Gateway, its own HTML "
            "page: no chat process answered. The message may or may not be stored, so "
            "longpoll.js should keep it as sending… and POST it again later under its ref, as "
            "after a network failure, not give it back as refused.",
            timeout=chat_page.RECONNECT_WAIT,
        )
    waits.wait_for(
        lambda: shown_once(window, text),
        f"Once the chat processes answered again, {text!r} should have been stored and shown "
        "once, in place of its sending… line.",
        timeout=chat_page.RECONNECT_WAIT,  # its backoff may wait up to 10 s
    )
    stored = [m["text"] for m in stored_messages(pair, room)]
    assert stored == [text], f"The room holds {stored}: the message should be stored once."


# -- a logout counts everywhere ----------------------------------------------------------------


def close_code(chat: ChatConnection, within: float) -> int | None:
    """The code the server closes ``chat`` with, passing over what comes before the close;
    None if it is still open after ``within`` s."""
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            chat.connection.recv(timeout=left)
    except TimeoutError:
        return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    return None


def log_out(door: Door, username: str) -> http.Response:
    """Log ``username`` out on ``door``'s process, as the logout button does (a POST)."""
    return http.request(
        door.url("django", "/accounts/logout/"),
        method="POST",
        headers=door.credentials(username),
        timeout=waits.MAX_WAIT,
    )


def test_a_logout_on_one_process_closes_the_persons_socket_and_poll_on_another(
    pair: Cluster,
) -> None:
    room = pair.new_room()
    leaving = new_person(pair, "leaving")
    other = pair.door(2)
    poll = LongPollClient(
        other.url("chatserver", ""),
        room,
        origin=django_origin(other),
        timeout=waits.MAX_WAIT,
        headers=other.credentials(leaving),
    )
    cursor = poll.start()["cursor"]
    with (
        joined(other, room, leaving) as socket,
        joined(other, room, people.ALICE) as staying,
        ThreadPoolExecutor(1) as background,
    ):
        parked = background.submit(
            http.request,
            f"{poll.url}?after={cursor}",
            headers={**other.credentials(leaving), "Origin": django_origin(other)},
            timeout=2 * waits.MAX_WAIT,
        )
        answer = log_out(pair.door(1), leaving)
        assert answer.status in (200, 302), (
            f"A POST to chat1's /accounts/logout/ was answered {answer.status}, not a logout."
        )
        code = close_code(socket, waits.MAX_WAIT)
        assert code == LOGGED_OUT_CLOSE, (
            f"After a logout on chat1, the person's WebSocket on chat2 was "
            f"{'still open' if code is None else f'closed with {code}'} {waits.MAX_WAIT:g} s "
            f"later, not closed with {LOGGED_OUT_CLOSE}. A logout on any process must reach "
            "every process (Redis, chat:logouts), and each closes that session's sockets."
        )
        refused = parked.result()
        assert refused.status == 403 and refused.json().get("code") == "logged_out", (
            f"The person's parked poll on chat2 was answered {refused.status} "
            f"{refused.body[:200]!r}, not 403 logged_out: a logout elsewhere must refuse it."
        )
        assert close_code(staying, 0.2) is None, "Alice's socket was closed for another's logout."


# -- one rate limit per person -----------------------------------------------------------------


def next_answer(chat: ChatConnection, waiting_for: str) -> JSON:
    """The next ack or error on ``chat``, passing over the room's messages."""
    while True:
        frame = chat.receive(waiting_for)
        if frame["type"] in ("ack", "error"):
            return frame


def test_one_persons_rate_limit_holds_across_two_processes(pair: Cluster) -> None:
    room = pair.new_room()
    sender = new_person(pair, "sender")
    with joined(pair.door(1), room, sender) as on_one, joined(pair.door(2), room, sender) as on_two:
        for number in range(BUDGET):
            chat = (on_one, on_two)[number % 2]
            chat.send_json({"text": f"message {number}", "ref": f"m{number}"})
            answer = next_answer(chat, f"the answer to message {number}")
            assert answer["type"] == "ack", (
                f"Message {number} of a bucket of CHAT_BURST={BUDGET}, sent from two "
                f"processes in turn, was answered {answer}, not acknowledged."
            )
        on_two.send_json({"text": "one too many", "ref": "over"})
        answer = next_answer(on_two, "the answer to one message more than CHAT_BURST")
        assert answer.get("code") == "rate_limited", (
            f"A person who sent CHAT_BURST={BUDGET} messages, half on each of two processes, "
            f"was let send one more: {answer}. The bucket must be one per person across "
            "every process: keep it in Redis, taken from atomically (a Lua script)."
        )
    someone_else = new_person(pair, "bystander")
    with joined(pair.door(2), room, someone_else) as fresh:
        fresh.send_json({"text": "my own bucket", "ref": "own"})
        answer = next_answer(fresh, "the answer to another person's first message")
        assert answer["type"] == "ack", f"Another person was limited for it: {answer}."


# -- in order, whatever order a process hears in --------------------------------------------------


STORE_QUIETLY = """
import json, os, time
from types import SimpleNamespace
from django.contrib.auth import get_user_model
from chatserver.messages import Draft
from chatserver.store import save_drafts
user = get_user_model().objects.get(username=os.environ["AUTHOR"])
author = SimpleNamespace(id=user.pk, name=user.get_username())
drafts = [Draft(int(os.environ["ROOM"]), author, text, time.time()) for text in ("2nd", "3rd")]
print(json.dumps([message for message, new in save_drafts(drafts)]))
"""
"""Store two messages with the stage's own store, from a process of its own that publishes
nothing, and print them as clients see them: no chat process hears of them until the check
publishes them."""


def publish(redis_url: str, channel: str, message: JSON) -> None:
    """Publish ``message`` on Redis as a chat process would, with redis-cli."""
    redis_cli = shutil.which("redis-cli") or "redis-cli"
    command = [redis_cli, "-u", redis_url, "PUBLISH", channel, json.dumps(message)]
    subprocess.run(command, check=True, capture_output=True, timeout=waits.MAX_WAIT)


def test_a_process_that_hears_a_later_id_first_still_delivers_in_order_once(
    pair: Cluster,
) -> None:
    room = pair.new_room()
    assert pair.redis is not None, "the scale_out stage runs with a redis-server of its own"
    listeners: list[ResumingClient] = [
        ResumingSocket(pair.door(2), room, people.BOB),
        ResumingPoller(pair.door(2), room, people.BOB),
    ]
    speaker = ResumingSocket(pair.door(1), room, people.ALICE)
    everyone = [*listeners, speaker]
    try:
        for client in everyone:
            client.start()
        speaker.say("1st")
        wait_until_acknowledged([speaker], waits.MAX_WAIT)
        wait_until_caught_up(everyone, 1, waits.MAX_WAIT)
        printed = pair.django_shell(STORE_QUIETLY, AUTHOR=people.ALICE, ROOM=str(room))
        second, third = json.loads(printed.splitlines()[-1])
        assert (second["id"], third["id"]) == (2, 3), f"The store gave {second}, {third}."
        publish(pair.redis.url, MESSAGES_CHANNEL, third)  # 3 is heard before 2
        wait_until_caught_up(listeners, 3, waits.MAX_WAIT)
        for repeat in (second, third):  # and then heard again, late
            publish(pair.redis.url, MESSAGES_CHANNEL, repeat)
        speaker.say("4th")
        wait_until_acknowledged([speaker], waits.MAX_WAIT)
        wait_until_caught_up(listeners, 4, waits.MAX_WAIT)
    finally:
        for client in everyone:
            client.stop()
    for client in listeners:
        shown = [m["id"] for m in client.seen.messages]
        assert shown == [1, 2, 3, 4], (
            f"chat2 heard message 3 on Redis before 2, then both again; its client "
            f"{client.name} was sent the ids {shown}, not 1, 2, 3, 4. A process that hears "
            "an id more than one past the last it delivered must first fetch the missing ones "
            "from the database (they are committed), and drop an id it has delivered already."
        )
        assert [m["text"] for m in client.seen.messages] == ["1st", "2nd", "3rd", "4th"]


# -- a process killed under load ---------------------------------------------------------------


CRASH_MESSAGES = 500
"""How many messages the senders of the crash test send between them."""


def test_a_process_killed_under_load_loses_no_acknowledged_message(trio: Cluster) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    room = trio.new_room()
    senders: list[ResumingClient] = [
        ResumingSocket(trio, room, people.VISITOR),
        ResumingSocket(trio, room, people.ALICE),
        ResumingSocket(trio, room, people.BOB),
        ResumingPoller(trio, room, people.ALICE),
        ResumingPoller(trio, room, people.BOB),
    ]
    victim = chance.randrange(1, trio.count + 1)
    kill_at = chance.randrange(CRASH_MESSAGES // 5, 4 * CRASH_MESSAGES // 5)
    crash: dict[str, Any] = {}

    def killer() -> None:
        while sum(len(s.seen.acks) for s in senders) < kill_at:
            time.sleep(0.001)
        crash["acknowledged"] = sum(len(s.seen.acks) for s in senders)
        crash["waiting"] = sum(len(s.outbox) for s in senders)
        crash["code"] = trio.kill(victim, signal.SIGKILL)

    try:
        for sender in senders:
            sender.start()
        crasher = threading.Thread(target=killer, name="killer", daemon=True)
        crasher.start()
        for number in range(CRASH_MESSAGES):
            sender = senders[chance.randrange(len(senders))]
            sender.say(f"{sender.name} says {number}")
            time.sleep(0.004)
        crasher.join(timeout=60)
        assert "code" in crash, f"chat{victim} was not killed: {crash}"
        wait_until_acknowledged(senders, 60)
        history = stored_messages(trio, room)
        wait_until_caught_up(senders, history[-1]["id"], 30)
    finally:
        for sender in senders:
            sender.stop()
        if trio.pid(copy_name(victim)) is None:
            trio.restart(victim)
    said = {ref: text for s in senders for ref, text in s.outbox.said.items()}
    acknowledged = {ref: s.seen.acks[ref] for s in senders for ref in s.seen.acks}
    where = (
        f"(chat{victim} of 3 was killed with SIGKILL after {crash['acknowledged']} messages "
        f"had been acknowledged, with {crash['waiting']} waiting; random seed {seed}.)"
    )
    print(
        f"\ncrash test: {len(said)} said, {len(acknowledged)} acknowledged, {len(history)} "
        f"stored; {sum(s.seen.connections for s in senders)} connections and polls {where}"
    )
    by_id = {m["id"]: m for m in history}
    texts = [m["text"] for m in history]
    assert len(texts) == len(set(texts)), (
        f"{len(texts) - len(set(texts))} messages are stored twice after the crash: a message "
        f"sent again under its ref must be found, not stored again. {where}"
    )
    for ref, message_id in acknowledged.items():
        assert by_id.get(message_id, {}).get("text") == said[ref], (
            f"{said[ref]!r} was acknowledged as message {message_id}, but the room holds "
            f"{by_id.get(message_id)} there in the database. {where}"
        )
    ids = [m["id"] for m in history]
    assert ids == sorted(set(ids)), f"The room's ids are not increasing: {ids[:20]}... {where}"
    for sender in senders:
        shown = [m["id"] for m in sender.seen.messages]
        assert shown == ids, (
            f"{sender.name} should have been sent every message of the room once, in order "
            f"(ids {ids[0]} to {ids[-1]}); missing {sorted(set(ids) - set(shown))[:10]}, "
            f"repeated or out of order "
            f"{[i for n, i in enumerate(shown) if n and i <= shown[n - 1]][:10]}. Clients "
            f"reconnect through the balancer and resume from their last id. {where}"
        )
        assert not sender.seen.problems and not sender.seen.missed, sender.seen


# -- Redis and PostgreSQL go away and come back -------------------------------------------------


def chatting(cluster: Cluster, room: int) -> list[ResumingClient]:
    """Clients on each process of ``cluster``, of both kinds, started."""
    clients: list[ResumingClient] = []
    for number in range(1, cluster.count + 1):
        kind = ResumingSocket if number % 2 else ResumingPoller
        clients.append(kind(cluster.door(number), room, people.EVERYONE[number % 3]))
    for client in clients:
        client.start()
    return clients


def everyone_has_everything(
    cluster: Cluster, room: int, clients: list[ResumingClient], hint: str
) -> None:
    """Wait until every message the clients said is stored and every client has the room's
    whole history; fail, adding ``hint``, unless each got it once, in order."""
    wait_until_acknowledged(clients, 4 * waits.MAX_WAIT)
    history = stored_messages(cluster, room)
    said = sorted(text for c in clients for text in c.outbox.said.values())
    assert sorted(m["text"] for m in history) == said, (
        f"The database holds {len(history)} messages of the room for the {len(said)} said and "
        "acknowledged."
    )
    try:
        wait_until_caught_up(clients, history[-1]["id"], 4 * waits.MAX_WAIT)
    except AssertionError as stuck:
        raise AssertionError(f"{stuck} {hint}") from None
    for client in clients:
        assert [m["id"] for m in client.seen.messages] == [m["id"] for m in history], (
            f"{client.name} should have every message once, in order: it has "
            f"{[m['id'] for m in client.seen.messages]}, the room {[m['id'] for m in history]}. "
            f"{hint}"
        )


def take_turns(clients: list[ResumingClient], label: str, count: int = 6) -> None:
    for number in range(count):
        clients[number % len(clients)].say(f"{label} {number}")


def test_redis_restarted_mid_conversation_loses_nothing(trio: Cluster) -> None:
    assert trio.redis is not None, "the scale_out stage runs with a redis-server of its own"
    room = trio.new_room()
    clients = chatting(trio, room)
    try:
        take_turns(clients, "before")
        wait_until_acknowledged(clients, waits.MAX_WAIT)
        trio.redis.stop()
        try:
            take_turns(clients, "while Redis is away")
            wait_until_acknowledged(clients, 2 * waits.MAX_WAIT)
        finally:
            trio.redis.start()
        take_turns(clients, "after")
        everyone_has_everything(
            trio, room, clients,
            "A process that lost Redis reconnects by itself and fills every room it holds "
            "from the database.",
        )  # fmt: skip
    finally:
        for client in clients:
            client.stop()


def test_postgresql_restarted_mid_conversation_loses_nothing_and_says_so_meanwhile(
    trio: Cluster,
) -> None:
    server = trio.postgres
    room = trio.new_room()
    clients = chatting(trio, room)
    try:
        take_turns(clients, "before")
        wait_until_acknowledged(clients, waits.MAX_WAIT)
        with joined(trio.door(1), room, people.VISITOR) as chat:
            server.stop()
            try:
                take_turns(clients, "while PostgreSQL is away")
                chat.send_json({"text": "not now", "ref": "during"})
                answer = next_answer(chat, "the answer to a message sent with PostgreSQL down")
                assert answer.get("code") == "not_stored" and answer.get("ref") == "during", (
                    f"With PostgreSQL down, a message was answered {answer}, not an error with "
                    "code not_stored and its ref: the page keeps it as sending… and tries again."
                )
                page = http.request(trio.url("django", "/chats/"), headers=trio.credentials())
                assert page.status == 503 and "Traceback" not in page.text, (
                    f"With PostgreSQL down, /chats/ answered {page.status}: {page.text[:300]!r}. "
                    "It should answer 503 with a page in plain words, never a traceback."
                )
            finally:
                server.start()
        take_turns(clients, "after")
        everyone_has_everything(
            trio, room, clients,
            "A message not stored while PostgreSQL was away is sent again by its client, and "
            "stored once it is back; the room's readers catch up from their last id.",
        )  # fmt: skip
    finally:
        for client in clients:
            client.stop()
