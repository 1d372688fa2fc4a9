"""Chapter 9's scale-out: what one chat process does with what the others tell it.

Every process hears each stored message through Redis, its own included, in whatever order
Redis brings them, and hands them to its clients through one path (Room.arrive): in id
order, with no gap and no repeat. A gap is read from the database once, while the messages
after it wait. A logout heard from another process closes that login's connections here.
These checks play the part of Redis and of the other processes in-process: they store
messages in a FakeStore behind the chat server's back, as another process would, and hand
the factory what Redis would have brought (ChatServerFactory.heard).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock

from harness.fakes import ORIGIN, FakePeople, FakePerson, FakeStore, chat_factory, chat_site
from harness.wsclient import MemoryClient

pytestmark = pytest.mark.needs("scale_out")

JSON = dict[str, Any]
ALICE = FakePerson(2, "alice", "alice-session")
CAROL = FakePerson(4, "carol", "carol-session")
"""Someone chatting on another process: her messages reach the store, not this process."""
MESSAGES = "chat:messages"
LOGOUTS = "chat:logouts"
"""The Redis channels every process publishes on and listens to (the stage's contract)."""


class Process:
    """One chat process, in this process: its factory on a FakeStore that other processes
    share, with Alice's WebSocket in room 1."""

    def __init__(self, code: SimpleNamespace) -> None:
        self.code = code
        self.people = FakePeople(code)
        self.alice = self.people.log_in(ALICE)
        self.store = FakeStore()
        self.factory, self.clock, _ = chat_factory(
            code,
            {"CHAT_RATE": "1000", "CHAT_BURST": "1000"},
            (1,),
            people=self.people,
            store=self.store,
        )
        site = chat_site(code, self.factory, one_process=True)
        site.reactor = MemoryReactorClock()
        self.socket = MemoryClient(site, "/ws/1", origin=ORIGIN, headers=self.alice)
        welcome = self.socket.take_welcome()
        assert welcome is not None and welcome.get("type") == "welcome", (
            f"Alice's WebSocket to /ws/1 was answered {self.socket.status} with {welcome}, "
            "not let in with a welcome."
        )

    def stored_elsewhere(self, *texts: str) -> list[JSON]:
        """Carol says ``texts`` on another process: stored, and not yet heard of here."""
        now = self.clock.seconds()
        drafts = [self.code.messages.Draft(1, CAROL, text, now) for text in texts]
        return [message for message, _ in self.store.store(drafts)]

    def hear(self, channel: str, data: Any) -> None:
        """Redis brings ``data``, published on ``channel`` by some process."""
        self.factory.heard(channel, json.dumps(data).encode())

    def seen(self) -> list[int]:
        """The ids of the messages Alice's page has been sent since last asked."""
        return [m["id"] for m in self.socket.new_messages() if m.get("type") == "message"]


@pytest.fixture
def process(chatserver_code: SimpleNamespace) -> Iterator[Process]:
    made = Process(chatserver_code)
    yield made
    made.socket.disconnect()


def test_messages_heard_out_of_order_go_out_in_order_after_one_read_of_the_gap(
    process: Process,
) -> None:
    first, second, third = process.stored_elsewhere("one", "two", "three")
    process.store.hold_reads()
    process.hear(MESSAGES, third)
    process.hear(MESSAGES, second)
    early = process.seen()
    assert early == [], (
        f"Messages 3 and 2 came from Redis before message 1, and Alice was sent {early} at "
        "once. A message after a gap must wait (Room.arrive) until the ones before it are "
        "read from the database."
    )
    assert process.store.reads == [(1, 0)], (
        f"The database should have been asked once, for what follows id 0 in room 1, while "
        f"3 and 2 waited; it was asked {process.store.reads}. Ask once per gap, not once "
        "per message that arrives behind it."
    )
    process.store.release_reads()
    assert process.seen() == [1, 2, 3], (
        "Once the gap was read from the database, Alice should get 1, 2, 3, in that order."
    )
    process.hear(MESSAGES, first)
    process.hear(MESSAGES, third)
    repeats = process.seen()
    assert repeats == [], (
        f"Redis brought messages 1 and 3 again, late, and Alice was sent {repeats}. An id "
        "already delivered is a repeat: drop it."
    )


def test_a_message_stored_here_goes_out_at_once_and_its_echo_is_dropped(
    process: Process,
) -> None:
    process.socket.send_json({"text": "hello", "ref": "alice-1"})
    answers = process.socket.new_messages()
    delivered = [m for m in answers if m.get("type") == "message"]
    assert [m["id"] for m in delivered] == [1], (
        f"Alice's own message, stored by this process, should reach her at once, without "
        f"waiting for Redis to bring it back; she got {answers}."
    )
    process.hear(MESSAGES, delivered[0])
    echoed = process.seen()
    assert echoed == [], f"Redis brought message 1 back and Alice was sent {echoed} again."
    assert process.store.reads == [], (
        f"A repeat needs nothing from the database, yet it was asked {process.store.reads}."
    )


def test_a_message_stored_here_after_a_gap_waits_for_the_one_before(process: Process) -> None:
    process.stored_elsewhere("from carol, not heard of yet")
    process.store.hold_reads()
    process.socket.send_json({"text": "from alice", "ref": "alice-1"})
    early = process.seen()
    assert early == [], (
        f"Alice's message was stored as 2 while 1 (stored by another process) had not been "
        f"heard of, and she was sent {early} at once. The process's own messages go through "
        "the same path (Room.arrive), and wait for the gap to be read."
    )
    process.store.release_reads()
    assert process.seen() == [1, 2], "Once 1 was read, Alice should get 1, then 2."


def test_a_gap_that_cannot_be_read_now_is_read_again_later(process: Process) -> None:
    _, second = process.stored_elsewhere("one", "two")
    process.store.hold_reads()
    process.hear(MESSAGES, second)
    ((_, failing),) = process.store.held_reads
    process.store.held_reads.clear()
    failing.errback(ConnectionError("the database is away"))
    assert process.seen() == [] and len(process.store.reads) == 1
    process.clock.advance(5)
    assert len(process.store.reads) == 2, (
        f"The database could not be read for the gap before message 2; five seconds later it "
        f"should have been asked again, but the reads were {process.store.reads}."
    )
    process.store.release_reads()
    assert process.seen() == [1, 2], "Once the database answered, Alice should get 1, then 2."


def test_when_redis_is_back_every_room_catches_up_from_the_database(process: Process) -> None:
    process.stored_elsewhere("said while", "this process heard nothing")
    assert process.seen() == []
    process.factory.hearing_again()
    assert process.seen() == [1, 2], (
        "Redis was away while two messages were stored elsewhere; when it is back "
        "(factory.hearing_again), each room this process holds should read what it missed "
        "from the database and send it on."
    )


def test_a_logout_heard_from_another_process_closes_that_logins_websockets(
    process: Process,
) -> None:
    process.hear(LOGOUTS, "someone-else")
    assert process.socket.close_codes() == [], "Someone else's logout closed Alice's WebSocket."
    process.people.log_out(ALICE)
    process.hear(LOGOUTS, ALICE.session_key)
    assert process.socket.close_codes() == [4001], (
        f"Alice logged out on another process, and her WebSocket here got close codes "
        f"{process.socket.close_codes()}, not [4001]: a session key on chat:logouts ends "
        "that login on every process (factory.session_ended)."
    )


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b'{"room": 1}', b'{"id": 1}'])
def test_a_message_redis_brings_that_is_not_a_chat_message_is_passed_over(
    process: Process, data: bytes
) -> None:
    process.factory.heard(MESSAGES, data)
    (message,) = process.stored_elsewhere("still flowing")
    process.hear(MESSAGES, message)
    assert process.seen() == [1], (
        f"After {data!r} on chat:messages, the next real message should still reach Alice."
    )
