"""Chapter 6's history: every message is stored before anyone sees it, and nobody misses one.

The checks of the earlier stages run here too. These check what is new: a message reaches
nobody before the database has it, and a group of messages goes to the database in one
transaction; ids come from the database and carry on after a restart; a client that comes
back says the last id it saw and gets exactly what it missed; a message sent again under
the same ref is stored once; a client further behind than the room keeps is told so; the
room page starts with the latest messages, and a message it held back for the rate limit
goes when the hold is over; and, the sum of it all, a chat server killed in the middle of
a crowd's conversation loses nothing that anyone was told was sent.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_twisted
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.web.server import Site

from harness import admin, chat_page, http, page_clock, people, protocol, waits
from harness.browser import Browsers
from harness.fakes import (
    ORIGIN,
    FakePeople,
    FakePerson,
    FakeStore,
    chat_factory,
    chat_site,
)
from harness.longpoll_client import LongPollClient
from harness.memory_http import MemoryHTTP
from harness.processes import SiteWith, StageProcesses
from harness.protocol import known_fields, message_fields
from harness.resuming import (
    ResumingClient,
    ResumingPoller,
    ResumingSocket,
    read_history,
    wait_until_acknowledged,
    wait_until_caught_up,
)
from harness.wsclient import MemoryClient, chat_connection, django_origin, joined, room_url

pytestmark = pytest.mark.needs("history")

JSON = dict[str, Any]
ALICE = FakePerson(2, "alice", "alice-session")
BOB = FakePerson(3, "bob", "bob-session")
FAST = {"CHAT_RATE": "1000", "CHAT_BURST": "1000"}
"""No rate limit gets in the way of a check that sends many messages at once."""
HOLD = 2.0
"""Seconds between two messages one person may send on the SLOW site."""
SLOW = {"CHAT_RATE": str(1 / HOLD), "CHAT_BURST": "1"}
"""One message at once, then one every HOLD seconds: of two messages sent together, the
second is held back unless HOLD seconds pass between them, which they never come near to."""


# -- in process: the chat server with its database in our hands -----------------------------


class Server:
    """The stage's chat server in this process, on a FakeStore the checks hold in their hands,
    where ALICE and BOB are logged in."""

    def __init__(
        self,
        code: SimpleNamespace,
        settings: Mapping[str, str] | None = None,
        store: FakeStore | None = None,
    ) -> None:
        self.people = FakePeople(code)
        self.alice = self.people.log_in(ALICE)
        self.bob = self.people.log_in(BOB)
        self.store = store or FakeStore()
        self.factory, self.clock, _ = chat_factory(
            code, {**FAST, **(settings or {})}, (1, 2), people=self.people, store=self.store
        )
        self.site: Site = chat_site(code, self.factory, one_process=True)
        self.site.reactor = MemoryReactorClock()
        self.http = MemoryHTTP(self.site, ORIGIN)
        self.sockets: list[MemoryClient] = []

    def connect(self, headers: Mapping[str, str], room: int = 1, after: Any = None) -> MemoryClient:
        query = "" if after is None else f"?after={after}"
        client = MemoryClient(self.site, f"/ws/{room}{query}", origin=ORIGIN, headers=headers)
        self.sockets.append(client)
        return client

    def join(self, headers: Mapping[str, str], room: int = 1, after: Any = None) -> MemoryClient:
        """A client in ``room`` whose first message was its welcome (taken off its list)."""
        client = self.connect(headers, room, after)
        first = client.take_welcome()
        assert client.status == 101 and first is not None and first["type"] == "welcome", (
            f"A WebSocket to /ws/{room}{'' if after is None else f'?after={after}'} was "
            f"answered {client.status} with {first}, not let in with a welcome first."
        )
        return client

    def say(self, count: int, room: int = 1, prefix: str = "line") -> None:
        """Have Bob say ``count`` messages in ``room``, from a connection of his own."""
        speaker = self.join(self.bob, room)
        for number in range(1, count + 1):
            speaker.send_json({"text": f"{prefix} {number}"})
        speaker.disconnect()

    def poll(self, room: int, after: int) -> Any:
        return self.http.get(f"/rooms/{room}/messages?after={after}", headers=self.alice)

    def post(self, body: JSON, headers: Mapping[str, str] | None = None) -> Any:
        return self.http.post_json("/rooms/1/messages", body, headers=dict(headers or self.alice))

    def stop(self) -> None:
        for client in self.sockets:
            client.disconnect()
        self.http.close_all()


@pytest.fixture
def make_server(chatserver_code: SimpleNamespace) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(settings: Mapping[str, str] | None = None, store: FakeStore | None = None) -> Server:
        server = Server(chatserver_code, settings, store)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


def of_type(messages: list[JSON], kind: str) -> list[JSON]:
    return [message for message in messages if message.get("type") == kind]


def ids(messages: list[JSON]) -> list[int]:
    return [message["id"] for message in messages if message.get("type") == "message"]


def test_a_message_reaches_nobody_before_the_database_has_it(server: Server) -> None:
    alice, bob = server.join(server.alice), server.join(server.bob)
    server.store.hold()
    alice.send_json({"text": "is it safe?", "ref": "alice-1"})
    early = alice.new_messages() + bob.new_messages()
    assert not early, (
        f"While the database had not yet stored the message, the chat server already sent "
        f"{early}. Broadcast (and acknowledge) a message only once the store's Deferred has "
        "fired: a crash before the commit would take back what people were shown."
    )
    server.store.release()
    to_bob, to_alice = bob.new_messages(), alice.new_messages()
    assert [(m.get("id"), m.get("text")) for m in to_bob] == [(1, "is it safe?")], (
        f"Once stored, the message should reach Bob with id 1; he got {to_bob}."
    )
    acked = [{"type": "ack", "ref": "alice-1", "id": 1}]
    assert known_fields(of_type(to_alice, "ack"), acked) == acked, (
        f"Alice should be told her message alice-1 is stored as id 1 with "
        f'{{"type": "ack", "ref": "alice-1", "id": 1}}; she got {to_alice}.'
    )
    assert message_fields(frozenset({"auth"}), ref=True) <= set(to_bob[0]), (
        f"A message sent with a ref should carry it, so its sender's page can put it where its "
        f"'sending…' line was: {to_bob[0]}."
    )


def test_messages_that_arrive_during_a_commit_go_to_the_database_together(
    make_server: Callable[..., Server],
) -> None:
    server = make_server({"CHAT_WRITE_BATCH": "3"})
    alice, bob = server.join(server.alice), server.join(server.bob)
    server.store.hold()
    for number in range(1, 8):
        alice.send_json({"text": f"quick {number}"})
    sizes = [len(group) for group in server.store.groups]
    assert sizes == [1], (
        f"The first message should go to the database at once, on its own, and the next six "
        f"wait until its commit is done; the store was asked to save groups of {sizes}. Write "
        "one group at a time (writer.py)."
    )
    server.store.release()
    sizes = [len(group) for group in server.store.groups]
    assert sizes == [1, 3, 3], (
        f"With CHAT_WRITE_BATCH=3, the six messages that waited should go in groups of 3 and "
        f"3, one transaction each, once the first commit was done; the groups were {sizes}."
    )
    received = bob.new_messages()
    assert [(m["id"], m["text"]) for m in received] == [(n, f"quick {n}") for n in range(1, 8)], (
        f"Bob should get the seven messages in the order sent, ids 1 to 7; he got {received}."
    )


def test_a_message_sent_again_under_its_ref_is_stored_once(server: Server) -> None:
    alice, bob = server.join(server.alice), server.join(server.bob)
    alice.send_json({"text": "just once", "ref": "r-1"})
    alice.send_json({"text": "just once", "ref": "r-1"})
    again = server.join(server.alice)  # her page, reconnected, sends it once more
    again.send_json({"text": "just once", "ref": "r-1"})
    acks = of_type(alice.new_messages(), "ack") + of_type(again.new_messages(), "ack")
    stored_once = [{"type": "ack", "ref": "r-1", "id": 1}] * 3
    assert known_fields(acks, stored_once) == stored_once, (
        f"Each time Alice sent ref r-1 she should be told it is message 1; she got {acks}. A "
        "ref its sender has used before in the room is acknowledged with the stored id."
    )
    posted = server.post({"text": "just once", "ref": "r-1"}).answered("a POST of ref r-1")
    assert posted.status == 200 and posted.json().get("id") == 1, (
        f"A POST of a ref stored before should be answered 200 with the stored message, not "
        f"{posted.status} {posted.body!r}."
    )
    bob.send_json({"text": "my own r-1", "ref": "r-1"})
    got = [(m["id"], m["author"]) for m in of_type(bob.new_messages(), "message")]
    assert got == [(1, "alice"), (2, "bob")], (
        f"Bob should have been sent Alice's message once, and his own with the same ref as a "
        f"new one (a ref is its author's own name for a message); he got {got}."
    )
    assert [len(room) for room in server.store.rooms.values()] == [2]


def test_a_message_the_database_did_not_take_is_refused_by_its_ref(server: Server) -> None:
    alice, bob = server.join(server.alice), server.join(server.bob)
    server.store.fail_next(RuntimeError("the disk is full"))
    alice.send_json({"text": "into the void", "ref": "lost-1"})
    errors = of_type(alice.new_messages(), "error")
    assert [(e.get("code"), e.get("ref")) for e in errors] == [("not_stored", "lost-1")], (
        f"When the database fails, the sender should get an error not_stored naming the "
        f"message's ref, so its page sends it again; Alice got {errors}."
    )
    assert errors[0].get("retry_after"), "Say in retry_after how long to wait before resending."
    assert not bob.new_messages(), "A message the database did not take reached Bob."
    alice.send_json({"text": "into the void", "ref": "lost-1"})
    assert ids(bob.new_messages()) == [1], "Sent again, the message should be stored as id 1."
    server.store.fail_next(RuntimeError("the disk is full"))
    refused = server.post({"text": "by post", "ref": "lost-2"}).answered("a POST the db refused")
    assert refused.status == 503 and refused.headers.get("retry-after"), (
        f"A POST the database did not take should get 503 with Retry-After, not "
        f"{refused.status} {refused.body!r}."
    )


@pytest.mark.parametrize("ref", [123, "", "has space", "x" * 65, ["a"]])
def test_a_ref_that_is_not_a_short_name_is_refused(server: Server, ref: Any) -> None:
    alice = server.join(server.alice)
    alice.send_json({"text": "hello", "ref": ref})
    got = alice.new_messages()
    assert [m.get("code") for m in got] == ["invalid_ref"], (
        f"A ref of {ref!r} should be refused with invalid_ref (1 to 64 letters, digits, - and "
        f"_); the answer was {got}."
    )


def test_a_returning_websocket_gets_what_it_missed_once_then_the_live_ones(
    server: Server,
) -> None:
    server.say(6)
    for after in (2, 7, 0):
        last = server.factory.rooms[1].last_id
        client = server.join(server.alice, after=after)
        caught_up = client.new_messages()
        expected = list(range(after + 1, last + 1))
        assert ids(caught_up) == expected, (
            f"A WebSocket to /ws/1?after={after} in a room with messages 1 to {last} should be "
            f"sent {expected} after its welcome, oldest first; it got {ids(caught_up)}."
        )
        server.say(1, prefix=f"after {after}")
        live = client.new_messages()
        newest = server.factory.rooms[1].last_id
        assert ids(live) == [newest], (
            f"After catching up, the client should get the next message ({newest}) once; it "
            f"got {ids(live)}."
        )


def test_a_client_further_back_than_the_memory_is_caught_up_from_the_database(
    make_server: Callable[..., Server],
) -> None:
    server = make_server({"CHAT_HISTORY": "3", "CHAT_POLL_PAGE": "4"})
    server.say(10)
    client = server.join(server.alice, after=1)
    assert ids(client.new_messages()) == list(range(2, 11)), (
        "With CHAT_HISTORY=3 the room's memory holds 8 to 10; ?after=1 should still bring "
        "2 to 10, the older ones read from the database (store.after)."
    )
    answer = server.poll(1, 1).answered("a poll after message 1").json()
    assert (ids(answer["messages"]), answer["cursor"], answer["missed"]) == (
        [2, 3, 4, 5],
        5,
        False,
    ), (
        f"A poll after message 1 should be answered from the database with 2 to 5 (a page of "
        f"CHAT_POLL_PAGE=4), cursor 5, missed false, not {answer}."
    )
    assert (1, 1) in server.store.reads


def test_messages_sent_while_the_database_is_read_are_neither_lost_nor_doubled(
    make_server: Callable[..., Server],
) -> None:
    server = make_server({"CHAT_HISTORY": "2"})
    server.say(5)
    server.store.hold_reads()
    late = server.join(server.alice, after=1)  # needs 2 and 3 from the database
    server.say(4, prefix="meanwhile")  # 6 to 9 arrive while the database is read
    server.store.release_reads()
    got = ids(late.new_messages())
    assert got == list(range(2, 10)), (
        f"A client catching up from the database while four more messages were sent should "
        f"get 2 to 9, each once and in order; it got {got}. While it catches up, pass it over "
        "in broadcasts, and send it from the memory what came meanwhile."
    )


def test_a_client_behind_what_the_room_keeps_is_told_in_plain_words(
    make_server: Callable[..., Server],
) -> None:
    server = make_server({"CHAT_HISTORY": "2"})
    server.say(10)
    server.store.forget_before(1, 6)  # prune_messages kept 6 to 10
    client = server.join(server.alice, after=2)
    got = client.new_messages()
    notices = of_type(got, "missed")
    assert len(notices) == 1 and (notices[0].get("first"), notices[0].get("last")) == (3, 5), (
        f"Resuming after message 2 when the room keeps 6 to 10 only, the client should get "
        f'{{"type": "missed", "first": 3, "last": 5, "detail": ...}}; it got {notices}.'
    )
    assert "3" in notices[0].get("detail", "") and "5" in notices[0]["detail"], (
        f"The notice's detail should say in plain words which messages are gone: {notices[0]}."
    )
    assert ids(got) == [6, 7, 8, 9, 10] and got.index(notices[0]) == 0, (
        f"After the notice it should get 6 to 10: {got}."
    )
    answer = server.poll(1, 2).answered("a poll after message 2").json()
    assert answer["missed"] is True and "3" in answer.get("detail", ""), (
        f"A poll after message 2 should say missed: true with a detail in plain words: {answer}."
    )
    assert ids(answer["messages"]) == [6, 7, 8, 9, 10]


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "1&after=2"])
def test_an_after_that_is_not_a_message_id_is_refused(server: Server, after: str) -> None:
    client = server.connect(server.alice, after=after)
    assert client.status == 400, (
        f"/ws/1?after={after} was answered {client.status}; it should be refused with 400: "
        "after is the id of the last message seen, a whole number."
    )


def restarted_after_three_messages(make_server: Callable[..., Server]) -> Server:
    """A server that stored three messages in room 1 and stopped, and a new process on the
    same database."""
    before = make_server()
    before.say(3)
    before.stop()
    return make_server(store=before.store)


def test_ids_carry_on_from_the_database_after_a_restart(
    make_server: Callable[..., Server],
) -> None:
    after = restarted_after_three_messages(make_server)
    poll = after.poll(1, 3)
    assert poll.answer is None, (
        f"After a restart, a poll after message 3 (the last one stored) should wait for the "
        f"next, not be answered {poll.answer}: ids carry on, nothing was missed."
    )
    client = after.join(after.alice, after=3)
    after.say(1, prefix="back")
    assert ids(client.new_messages()) == [4], (
        "After a restart the next message should be 4: the room's last id comes from the "
        "database (store.latest), not from 0."
    )
    answer = poll.answered("the waiting poll").json()
    assert ids(answer["messages"]) == [4] and answer["missed"] is False


def test_a_first_poll_after_a_restart_starts_from_the_last_stored_id(
    make_server: Callable[..., Server],
) -> None:
    after = restarted_after_three_messages(make_server)
    first = after.http.get("/rooms/1/messages", headers=after.alice)
    answer = first.answered("the answer to a first poll (no after) just after a restart").json()
    assert (answer.get("cursor"), ids(answer.get("messages", []))) == (3, []), (
        f"Just after a restart, a first poll (no ?after=) in a room whose last stored "
        f"message is 3 should be answered at once with no messages and cursor 3, where a "
        f"newcomer starts; it was answered {answer}. A room the server loads after a restart "
        "starts from the last id in the database (store.latest), not from 0: a client that "
        "follows a cursor of 0 is sent every stored message again, as new."
    )
    poll = after.poll(1, answer["cursor"])
    assert poll.answer is None, (
        f"A poll from that cursor (?after=3) should wait for the next message, not be "
        f"answered {poll.answer}."
    )
    after.say(1, prefix="back")
    got = poll.answered("the poll from the first poll's cursor").json()
    assert ids(got["messages"]) == [4], (
        f"The poll from the first poll's cursor should get the next message, 4, and nothing "
        f"from before the restart; it got {ids(got['messages'])}."
    )


def database_setting(query: str) -> object:
    """One value the stage's database connection reports, asked through Django."""
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute(query)
        value = cursor.fetchone()[0]
    connections.close_all()
    return value


@pytest.mark.needs("sqlite")
def test_sqlite_waits_for_the_disk_at_every_commit(django_in_process: None) -> None:
    synchronous = database_setting("PRAGMA synchronous")
    assert synchronous == 2, (
        f"sqlite's synchronous setting is {synchronous}, not 2 (FULL): a commit could be "
        "lost in a power cut after the message was shown. Set it in DATABASES' OPTIONS."
    )


@pytest.mark.needs("scale_out")
def test_postgresql_waits_for_the_disk_at_every_commit(django_in_process: None) -> None:
    synchronous_commit = database_setting("SHOW synchronous_commit")
    assert synchronous_commit == "on", (
        f"PostgreSQL's synchronous_commit is {synchronous_commit!r}, not 'on': a commit could "
        "be lost in a crash after the message was shown. Leave it on (PostgreSQL's default); "
        "do not turn it off in DATABASES' OPTIONS."
    )


@pytest_twisted.ensureDeferred
async def test_the_database_store_gives_ids_in_the_commit_and_works_in_a_thread(
    chatserver_code: SimpleNamespace, django_in_process: None
) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from chat.models import ChatRoom, Message

    room = ChatRoom.objects.create(name="stored").pk
    user = get_user_model().objects.create_user("writer")
    connections.close_all()
    writer = FakePerson(user.pk, "writer", "writer-session")
    draft = chatserver_code.messages.Draft
    threads: list[threading.Thread] = []
    real_save = chatserver_code.store.save_drafts

    def noting_thread(*args: Any) -> Any:
        threads.append(threading.current_thread())
        return real_save(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chatserver_code.store, "save_drafts", noting_thread)
        first, second = chatserver_code.store.MessageStore(), chatserver_code.store.MessageStore()
        saving = first.save(
            [draft(room, writer, f"one {n}", 1_800_000_000 + n, f"o{n}") for n in range(3)]
        )
        assert isinstance(saving, Deferred), "MessageStore.save should return a Deferred."
        stored = await saving
        # A second store, as a second chat process on the same database would have:
        again = await second.save(
            [
                draft(room, writer, "two", 1_800_000_010, "o1"),
                draft(room, writer, "three", 1_800_000_011),
            ]
        )
    stored = stored_pairs(stored, "three new messages in a new room")
    assert [(m["id"], new) for m, new in stored] == [(1, True), (2, True), (3, True)], (
        f"The first three messages in a new room should be stored as 1, 2, 3: {stored}."
    )
    again = stored_pairs(
        again,
        "a message sent again under ref o1, stored before, and a new one",
        "A ref its author has used before in the room is no error: look the refs up before "
        "storing anything, and answer such a draft with (the stored message, False).",
    )
    assert [(m["id"], m["text"], new) for m, new in again] == [
        (2, "one 1", False),
        (4, "three", True),
    ], (
        f"Another store on the same database should find ref o1 stored (as 2, not new) and "
        f"give the next message id 4: the ids come from the database, not from one process's "
        f"memory. It answered {again}."
    )
    assert threads and threading.main_thread() not in threads, (
        "MessageStore.save wrote to the database on the reactor's thread; use deferToThread."
    )
    last_id, latest = await chatserver_code.store.MessageStore().latest(room, 2)
    assert last_id == 4 and [m["id"] for m in latest] == [3, 4]
    assert Message.objects.filter(room_id=room).count() == 4
    assert ChatRoom.objects.get(pk=room).last_seq == 4
    connections.close_all()


def stored_pairs(outcomes: Any, drafts: str, hint: str = "") -> list[tuple[JSON, bool]]:
    """MessageStore.save's answer for ``drafts`` (in words), checked to be what the chat
    server unpacks: one (message, is_new) pair per draft. ``hint`` says what to check."""
    listed = outcomes if isinstance(outcomes, list) else [outcomes]
    odd = [o for o in listed if not (isinstance(o, tuple | list) and len(o) == 2)]
    assert listed is outcomes and not odd, (
        f"MessageStore.save should answer each draft with a pair (message, is_new); for "
        f"{drafts}, it answered {outcomes!r}. {hint} (store.py)"
    )
    return [(message, is_new) for message, is_new in outcomes]


# -- against the running server ---------------------------------------------------------------


def poster(site: StageProcesses, room: int, username: str = people.VISITOR) -> LongPollClient:
    return LongPollClient(
        site.url("chatserver", ""),
        room,
        origin=django_origin(site),
        timeout=waits.MAX_WAIT,
        headers=site.credentials(username),
    )


def test_a_resent_ref_is_stored_once_on_the_real_server(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    with joined(site, room, people.ALICE) as alice, joined(site, room, people.BOB) as bob:
        for _ in range(2):
            alice.send_json({"text": "once only", "ref": "real-ref-1"})
        acks = [alice.receive_until("ack", "an ack") for _ in range(2)]
        assert [(a["ref"], a["id"]) for a in acks] == [("real-ref-1", 1)] * 2, (
            f"Sending ref real-ref-1 twice should bring two acks for message 1: {acks}."
        )
        bob.send_json({"text": "bob after"})
        got = [bob.receive_until("message", f"message {n}")["text"] for n in (1, 2)]
        assert got == ["once only", "bob after"], (
            f"Bob should have been sent Alice's message once, then his own; he got {got}."
        )
    with joined(site, room, people.ALICE) as alice:  # reconnected, sends it once more
        alice.send_json({"text": "once only", "ref": "real-ref-1"})
        assert alice.receive_until("ack", "an ack after reconnecting")["id"] == 1
    answer = poster(site, room, people.ALICE).send("once only", ref="real-ref-1")
    assert answer.status == 200 and answer.json()["id"] == 1, (
        f"A POST of a ref Alice sent before should get 200 and message 1: {answer.status} "
        f"{answer.text[:200]}"
    )
    history = [(m["id"], m["text"]) for m in read_history(site, room)]
    assert history == [(1, "once only"), (2, "bob after")], (
        f"A message sent four times under one ref should be stored once; the room holds {history}."
    )


def test_a_room_page_starts_with_the_latest_messages_as_text(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    attack = '<img src=x onerror="window.hacked = true">'
    sender = poster(site, room)
    for text in ("first words", attack, "last words"):
        assert sender.send(text).status == 201
    for path in (f"/chats/{room}/", f"/chats/long_poll/{room}/"):
        page = http.request(site.url("django", path), headers=site.credentials())
        assert page.status == 200
        html = page.text
        assert "first words" in html and "last words" in html and 'data-id="3"' in html, (
            f"{path} should list the room's latest messages, rendered by Django, each with "
            "its id (data-id), so the page shows the conversation before its script connects."
        )
        assert "<img src=x" not in html and "&lt;img src=x" in html, (
            f"{path} put a message's text into the page as HTML. Let Django escape it: "
            "{{ message.text }}, never |safe."
        )
        assert '"last_id": 3' in html, (
            f"{path} should tell its script the id of the last message shown (last_id: 3 in "
            "the chat-server settings), so that it asks for what came after it."
        )


def test_a_message_waits_for_the_database_and_nothing_else_does(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    with joined(site, room, people.ALICE) as alice, joined(site, room, people.BOB) as bob:
        with site.database_locked():
            alice.send_json({"text": "waits for the disk", "ref": "lock-1"})
            alice.send_json({"text": ""})
            error = alice.receive("the error for an empty message, while the database is locked")
            assert error.get("code") == "empty_text", (
                f"While the database was locked, an empty message should still be refused at "
                f"once (that needs no database), but the first answer was {error}. Is the "
                "reactor waiting for the database? Store messages in a thread (deferToThread)."
            )
            early = None
            quiet_until = time.monotonic() + 1
            while early is None and (left := quiet_until - time.monotonic()) > 0:
                try:
                    frame = json.loads(bob.connection.recv(timeout=left))
                except TimeoutError:
                    break
                early = None if protocol.is_ignored(frame) else frame  # a learner's own types
            assert early is None, (
                f"While the database was locked, Bob was sent {early}: a message must reach "
                "nobody before it is stored."
            )
        got = bob.receive("the message, once the database is free again")
        assert got.get("text") == "waits for the disk", (
            f"Once the database was free, the message that waited should reach Bob: {got}."
        )


def test_ids_carry_on_after_a_restart_and_a_cursor_stays_good(
    site_with: SiteWith, tmp_path: Path
) -> None:
    with site_with(tmp_path, {"CHAT_POLL_TIMEOUT": "2"}) as restarting:
        room = restarting.new_room()
        sender = poster(restarting, room)
        for number in range(1, 4):
            assert sender.send(f"before {number}").status == 201
        restarting.stop_process("chatserver")
        restarting.start_process("chatserver")
        newcomer = poster(restarting, room)  # the first to ask, with no cursor yet
        first = newcomer.start()
        assert (first["cursor"], first["messages"]) == (3, []), (
            f"Just after a restart, a first poll (no ?after=) should be answered with no "
            f"messages and cursor 3, the room's last stored message; it was answered {first}. "
            "A room loaded after a restart starts from the last id in the database, not 0."
        )
        with joined(restarting, room) as chat:
            posted = sender.send("after the restart")
            assert posted.status == 201 and posted.json()["id"] == 4, (
                f"After a restart the next message should be stored as 4; the POST was answered "
                f"{posted.status} {posted.text[:200]}. Ids come from the database (the room's "
                "last_seq), in the transaction that stores the message, never from 1 again."
            )
            assert chat.receive("the message after the restart")["id"] == 4
        followed = newcomer.poll("the next message, from the first poll's cursor")
        assert ids(followed["messages"]) == [4], (
            f"A poll from the cursor a first poll got after the restart should bring message 4 "
            f"alone, not {ids(followed['messages'])}: nothing from before is new to it."
        )
        polling = poster(restarting, room)
        polling.cursor = 3
        answer = polling.poll("a poll after message 3, from before the restart")
        assert (ids(answer["messages"]), answer["missed"]) == ([4], False), (
            f"A cursor from before the restart is still good: ?after=3 should bring message 4 "
            f"with missed: false, not {answer}."
        )
        with chat_connection(
            f"{room_url(restarting, room)}?after=2",
            origin=django_origin(restarting),
            timeout=waits.MAX_WAIT,
            headers=restarting.credentials(),
        ) as resumed:
            assert resumed.receive("the welcome")["type"] == "welcome"
            got = [resumed.receive(f"message {n}")["id"] for n in (3, 4)]
            assert got == [3, 4], f"/ws/{room}?after=2 after a restart brought {got}, not [3, 4]."


CUT_OFF = 10.0
"""Seconds the clients of test_a_client_cut_off_for_a_while_catches_up_exactly stay away."""


def test_a_client_cut_off_for_a_while_catches_up_exactly(
    site_with: SiteWith, tmp_path: Path
) -> None:
    with site_with(tmp_path, {**FAST, "CHAT_POLL_TIMEOUT": "2"}) as running:
        room = running.new_room()
        talkers = [
            ResumingSocket(running, room, people.ALICE),
            ResumingPoller(running, room, people.BOB),
        ]
        away = [ResumingSocket(running, room), ResumingPoller(running, room)]
        everyone: list[ResumingClient] = talkers + away
        try:
            for client in everyone:
                client.start()
            for number in range(5):
                talkers[number % 2].say(f"before {number}")
            wait_until_acknowledged(talkers, waits.MAX_WAIT)
            wait_until_caught_up(everyone, 5, waits.MAX_WAIT)
            for client in away:
                client.cut_off()
            deadline = time.monotonic() + CUT_OFF
            number = 0
            while time.monotonic() < deadline:
                talkers[number % 2].say(f"while away {number}")
                number += 1
                time.sleep(0.25)
            wait_until_acknowledged(talkers, waits.MAX_WAIT)
            last = read_history(running, room)[-1]["id"]
            for client in away:
                client.come_back()
            wait_until_caught_up(everyone, last, 2 * waits.MAX_WAIT)
        finally:
            for client in everyone:
                client.stop()
        history = read_history(running, room)
    for client in away:
        got = [m["id"] for m in client.seen.messages]
        assert got == [m["id"] for m in history], (
            f"{client.name}, cut off for {CUT_OFF:g} s while {number} messages were sent, "
            f"should have got every message of the room once, in order, ids 1 to "
            f"{history[-1]['id']}; it got {got}."
        )
        assert client.seen.messages == history
        assert not client.seen.missed and not client.seen.problems


CRASH_MESSAGES = 500
"""How many messages the senders of the crash test send between them."""

LOST_ANSWERS = 0.05
"""The share of acknowledgements some of the crash test's senders act as if they never got."""


def test_a_crash_loses_no_acknowledged_message_and_shows_nothing_twice(
    site_with: SiteWith, tmp_path: Path
) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    settings = {**FAST, "CHAT_POLL_TIMEOUT": "2"}
    with site_with(tmp_path, settings) as running:
        room = running.new_room()
        # Some acknowledgements go missing, as when the network fails right after the server
        # answered: those messages are sent again, and must not be stored twice.
        lossy = {"lose_answers": LOST_ANSWERS, "seed": seed}
        senders: list[ResumingClient] = [
            ResumingSocket(running, room, people.VISITOR, **lossy),
            ResumingSocket(running, room, people.ALICE, **lossy),
            ResumingSocket(running, room, people.BOB),
            ResumingPoller(running, room, people.ALICE, **lossy),
            ResumingPoller(running, room, people.BOB),
        ]
        kill_at = chance.randrange(CRASH_MESSAGES // 5, 4 * CRASH_MESSAGES // 5)
        crash: dict[str, Any] = {}

        def killer() -> None:
            while sum(len(s.seen.acks) for s in senders) < kill_at:
                time.sleep(0.001)
            crash["acknowledged"] = sum(len(s.seen.acks) for s in senders)
            crash["waiting"] = sum(len(s.outbox) for s in senders)
            crash["code"] = running.stop_process("chatserver", signal.SIGKILL)
            time.sleep(chance.uniform(0, 0.5))
            running.start_process("chatserver")
            crash["restarted"] = True

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
            assert crash.get("restarted"), f"The chat server was not killed and restarted: {crash}"
            wait_until_acknowledged(senders, 60)
            history = read_history(running, room)
            wait_until_caught_up(senders, history[-1]["id"], 30)
        finally:
            for sender in senders:
                sender.stop()
    said = {ref: text for s in senders for ref, text in s.outbox.said.items()}
    resent = sum(sender.answers_lost for sender in senders)
    where = (
        f"(The chat server was killed with SIGKILL after {crash['acknowledged']} messages had "
        f"been acknowledged, with {crash['waiting']} waiting; {resent} acknowledgements were "
        f"treated as lost, and their messages sent again; random seed {seed}.)"
    )
    texts = [m["text"] for m in history]
    assert sorted(texts) == sorted(said.values()), (
        f"After the crash the room holds {len(history)} messages for the {len(said)} sent: "
        f"{len(set(said.values()) - set(texts))} missing, "
        f"{len(texts) - len(set(texts))} stored twice. Every message is sent again, under its "
        f"ref, until it is acknowledged; a ref stored before must not be stored again. {where}"
    )
    assert [m["id"] for m in history] == list(range(1, len(history) + 1)), (
        f"The room's ids should go 1, 2, 3... with no gap or repeat across the crash: "
        f"{[m['id'] for m in history][:20]}... {where}"
    )
    by_id = {m["id"]: m for m in history}
    for sender in senders:
        for ref, message_id in sender.seen.acks.items():
            assert by_id[message_id]["text"] == said[ref], (
                f"{sender.name} was told its message {said[ref]!r} is message {message_id}, "
                f"but message {message_id} is {by_id[message_id]['text']!r}. {where}"
            )
        shown = [m["id"] for m in sender.seen.messages]
        assert shown == sorted(set(shown)), (
            f"{sender.name} was sent some messages twice or out of order: ids "
            f"{[i for n, i in enumerate(shown) if n and i <= shown[n - 1]][:10]} came after a "
            f"bigger one. Resume from ?after=<last id seen>, and never send a message twice "
            f"on one connection. {where}"
        )
        assert shown == [m["id"] for m in history], (
            f"{sender.name} should have been sent every message of the room; it is missing "
            f"{sorted(set(by_id) - set(shown))[:10]}. {where}"
        )
        changed = [m for m in sender.seen.messages if m != by_id[m["id"]]]
        assert not changed, (
            f"{sender.name} was shown {changed[:1]}, which the room no longer holds as shown "
            f"(now {by_id[changed[0]['id']]}): a message became visible before its commit, "
            f"and the crash took it back. {where}"
        )
        assert not sender.seen.problems and not sender.seen.missed, sender.seen


def test_prune_messages_keeps_the_latest_and_resuming_clients_are_told(
    site_with: SiteWith, tmp_path: Path
) -> None:
    with site_with(tmp_path, {**FAST, "CHAT_HISTORY": "2"}) as running:
        room = running.new_room()
        sender = poster(running, room)
        for number in range(1, 13):
            assert sender.send(f"line {number}").status == 201
        pruned = running.manage("prune_messages", "--keep", "5").stdout
        assert "Pruned 7 messages" in pruned, (
            f"`manage.py prune_messages --keep 5` after 12 messages should delete 7 and say "
            f"so; it printed {pruned!r}."
        )
        with chat_connection(
            f"{room_url(running, room)}?after=2",
            origin=django_origin(running),
            timeout=waits.MAX_WAIT,
            headers=running.credentials(),
        ) as resumed:
            assert resumed.receive("the welcome")["type"] == "welcome"
            notice = resumed.receive("a notice that messages 3 to 7 are gone")
            assert notice.get("type") == "missed" and (notice["first"], notice["last"]) == (3, 7), (
                f"Resuming after message 2 when the room keeps 8 to 12 should first bring "
                f'{{"type": "missed", "first": 3, "last": 7, ...}}, not {notice}.'
            )
            got = [resumed.receive(f"message {n}")["id"] for n in range(8, 13)]
            assert got == list(range(8, 13))
        assert sender.send("after pruning").json()["id"] == 13, "Ids are never given again."
        running.manage("prune_messages", env={"CHAT_KEEP_MESSAGES": "2"})
        kept = [m["id"] for m in read_history(running, room)]
        assert kept == [12, 13], (
            f"With CHAT_KEEP_MESSAGES=2, prune_messages should keep each room's latest 2 "
            f"messages; room {room} keeps {kept}."
        )


# -- real browsers ----------------------------------------------------------------------------


def shown_ids(driver: WebDriver) -> list[int]:
    return [int(i or 0) for i in chat_page.read_all(driver, "#message_list li[data-id]", "data-id")]


def shows(driver: WebDriver, texts: list[str], still_sending: list[str]) -> bool:
    """True once the page shows ``texts`` and ``still_sending`` as "sending…"; otherwise an
    AssertionError that says what it shows, for wait_for to report."""
    shown, waiting = chat_page.messages(driver), chat_page.sending(driver)
    assert (shown, waiting) == (texts, still_sending), (
        f"it shows {shown}, of which {waiting} as sending"
    )
    return True


def test_a_fresh_page_shows_the_history_and_carries_on_without_repeats(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    attack = '<img src=x onerror="window.hacked = true">'
    sender = poster(site, room)
    for text in ("said before", attack, "also before"):
        assert sender.send(text).status == 201
    socket_window = chat_page.open_window(browsers, site, f"/chats/{room}/")
    polling_window = chat_page.open_window(browsers, site, f"/chats/long_poll/{room}/")
    for window in (socket_window, polling_window):
        assert chat_page.messages(window) == ["said before", attack, "also before"], (
            f"A fresh room page should show the room's latest messages, oldest first, as "
            f"text: {chat_page.messages(window)}."
        )
        assert not window.find_elements(By.CSS_SELECTOR, "#message_list img")
        assert window.execute_script("return window.hacked === true") is False
    chat_page.send(socket_window, "and now live")
    for window in (socket_window, polling_window):
        chat_page.wait_for_message(window, "and now live", "The live message never came.")
    socket_window.refresh()
    chat_page.wait_until_connected(socket_window)
    for window in (socket_window, polling_window):
        waits.wait_for(
            lambda window=window: shown_ids(window) == [1, 2, 3, 4],
            f"After a reload and a live message, each page should show messages 1 to 4 once, "
            f"in order, not {shown_ids(window)}. A message from the page's HTML must not come "
            "again from the chat server: connect with ?after=<last_id>.",
        )


def test_a_message_typed_while_the_server_is_down_shows_as_sending_then_goes_once(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    socket_window = chat_page.open_window(browsers, site, f"/chats/{room}/", people.ALICE)
    polling_window = chat_page.open_window(browsers, site, f"/chats/long_poll/{room}/", people.BOB)
    chat_page.send(socket_window, "before the break")
    chat_page.wait_for_message(polling_window, "before the break", "The first message never came.")
    site.stop_process("chatserver", signal.SIGKILL)
    try:
        waits.wait_for(
            lambda: chat_page.connection_state(socket_window) == "reconnecting",
            "With the chat server gone, the page still claims to be connected.",
        )
        chat_page.send(socket_window, "typed while away")
        chat_page.send(polling_window, "posted while away")
        for window, text in (
            (socket_window, "typed while away"),
            (polling_window, "posted while away"),
        ):
            waits.wait_for(
                lambda window=window, text=text: shows(window, ["before the break", text], [text]),
                "A message typed while the chat server was down should stay in the list, "
                "marked 'sending…' (an li with class sending), until the server takes it.",
            )
            assert (window.find_element(By.ID, "inputbox").get_attribute("value") or "") == ""
    finally:
        site.start_process("chatserver")
    for window in (socket_window, polling_window):
        for text in ("typed while away", "posted while away"):
            chat_page.wait_for_message(
                window,
                text,
                f"After the server came back, {text!r} never arrived: the page should send "
                "what waits as 'sending…' again once it is connected.",
                timeout=chat_page.RECONNECT_WAIT,  # its backoff may wait up to 10 s
            )
        waits.wait_for(
            lambda window=window: (
                not chat_page.sending(window)
                and chat_page.messages(window).count("typed while away") == 1
                and chat_page.messages(window).count("posted while away") == 1
            ),
            "Once stored, each message should be shown once, in place of its 'sending…' line.",
            timeout=chat_page.RECONNECT_WAIT,
        )
        assert shown_ids(window) == sorted(shown_ids(window)) == [1, 2, 3]


def test_a_flood_over_the_rate_limit_is_sent_in_full_in_order(
    site: StageProcesses, browser: WebDriver, new_room: Callable[[], int]
) -> None:
    chat_page.open_room(browser, site, f"/chats/{new_room()}/")
    expected = [f"flood {n}" for n in range(1, 21)]
    chat_page.send_at_once(browser, expected)
    waits.wait_for(
        lambda: shows(browser, expected, []),
        "Twenty messages sent at once, past CHAT_BURST (10), should all be shown in the end, "
        "once each and in order: the page waits as long as rate_limited's retry_after says "
        "and sends the rest again.",
        timeout=4 * waits.MAX_WAIT,
    )


def test_a_held_message_goes_when_the_holds_timer_fires_before_the_clock_says(
    site_with: SiteWith, browsers: Browsers, tmp_path: Path
) -> None:
    """What a browser does now and then, every time: the hold's timer fires when the page's
    clock is 1 ms short of the hold's end (harness/page_clock.py)."""
    texts = ["sent at once", "held back"]
    with site_with(tmp_path, SLOW) as running:
        pages = {
            script: chat_page.open_window(browsers, running, path.format(running.new_room()), who)
            for script, path, who in (
                ("chat.js", "/chats/{}/", people.ALICE),
                ("longpoll.js", "/chats/long_poll/{}/", people.BOB),
            )
        }  # two people, so two rate limits: both pages are held at the same time
        for window in pages.values():
            page_clock.make_timers_fire_early(window)
            chat_page.send_at_once(window, texts)
        for script, window in pages.items():
            waits.wait_for(
                lambda window=window: shows(window, texts, []),
                f"A message the rate limit held back never went from the {script} page, "
                "though its wait was over. Here the hold's timer fires 1 ms before Date.now() "
                "reaches the hold's end, as a browser's timer may (it rounds its delay down "
                f"to a whole millisecond): in chat/static/chat/{script}, when that timer "
                "fires, end the wait itself (holdUntil = 0, then send the outbox) instead of "
                "asking the clock again.",
                timeout=HOLD + waits.MAX_WAIT,
            )


def test_the_admin_shows_messages_read_only_with_search_and_a_room_filter(
    site: StageProcesses, browser: WebDriver, new_room: Callable[[], int]
) -> None:
    room, other = new_room(), new_room()
    assert poster(site, room, people.ALICE).send("findable needle").status == 201
    assert poster(site, other, people.BOB).send("another haystack").status == 201
    admin.log_in(browser, site, admin.USERNAME, admin.PASSWORD)
    browser.get(site.url("django", "/admin/chat/message/?q=needle"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1 and "findable needle" in rows[0].text, (
        "The admin's message list should search the text: ?q=needle should find one message. "
        "Register Message in chat/admin.py with search_fields."
    )
    browser.get(site.url("django", f"/admin/chat/message/?room__id__exact={other}"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.text for row in rows if "haystack" in row.text] and len(rows) == 1, (
        "The admin's message list should filter by room (list_filter = ['room'])."
    )
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href$='/chat/message/add/']"), (
        "The admin offers to add messages; only the chat server stores them (has_add_permission)."
    )
    rows[0].find_element(By.CSS_SELECTOR, "th a").click()
    waits.wait_for(lambda: "/change/" in browser.current_url, "A message's page did not open.")
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=_save], textarea"), (
        "A message's admin page can be edited; it should be read-only (has_change_permission)."
    )


NEWEST_IN_VIEW = """
const list = document.getElementById("message_list");
const items = list.querySelectorAll("li[data-id]");
const newest = items[items.length - 1].getBoundingClientRect();
const box = list.getBoundingClientRect();
return {
  overflows: list.scrollHeight > list.clientHeight,
  newestInView: newest.top >= box.top - 1 && newest.bottom <= box.bottom + 1,
  scrollTop: list.scrollTop,
};
"""
"""Whether the message list is longer than its box, and its newest message is in view."""


def test_a_room_page_opens_at_its_newest_message(
    site_with: SiteWith, browsers: Browsers, tmp_path: Path
) -> None:
    with site_with(tmp_path, FAST) as running:
        room = running.new_room()
        sender = poster(running, room)
        for number in range(1, 41):
            assert sender.send(f"line {number}").status == 201
        for path in (f"/chats/{room}/", f"/chats/long_poll/{room}/"):
            window = chat_page.open_window(browsers, running, path)
            view = window.execute_script(NEWEST_IN_VIEW)
            assert view["overflows"], (
                f"{path} shows 40 messages in a list that does not scroll, so this check "
                "cannot tell where it opens: keep the message list's max-height (style.css)."
            )
            assert view["newestInView"], (
                f"{path} opened with its message list scrolled to {view['scrollTop']}px, and "
                "the newest message, line 40, out of view: a late joiner sees the oldest "
                "messages first. Scroll the list to its end once room.js has read the "
                "messages Django drew (messageList.scrollTop = messageList.scrollHeight)."
            )
