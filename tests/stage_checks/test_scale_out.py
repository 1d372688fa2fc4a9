"""Chapter 9's scale-out: what one chat process does with what the others tell it.

Every process hears each stored message through Redis, its own included, in whatever order
Redis brings them, and hands them to its clients through one path (Room.arrive): in id
order, with no gap and no repeat. A gap is read from the database once, while the messages
after it wait. A logout heard from another process closes that login's connections here.
These checks play the part of Redis and of the other processes in-process: they store
messages in a FakeStore behind the chat server's back, as another process would, and hand
the factory what Redis would have brought (ChatServerFactory.heard). The last checks read
where PostgreSQL and Redis are from the settings, and refuse a wrong address in plain words;
a room's reads from the real PostgreSQL stop at the last id they read, whatever another
process commits meanwhile; and a page asked for while PostgreSQL is away is a 503 in plain
words, not a traceback.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock

from harness import waits
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
        self.site = chat_site(code, self.factory, one_process=True)
        self.site.reactor = MemoryReactorClock()
        self.socket = MemoryClient(self.site, "/ws/1", origin=ORIGIN, headers=self.alice)
        welcome = self.socket.take_welcome()
        assert welcome is not None and welcome.get("type") == "welcome", (
            f"Alice's WebSocket to /ws/1 was answered {self.socket.status} with {welcome}, "
            "not let in with a welcome."
        )

    def stored_elsewhere(self, *texts: str, room: int = 1) -> list[JSON]:
        """Carol says ``texts`` on another process: stored, and not yet heard of here."""
        now = self.clock.seconds()
        drafts = [self.code.messages.Draft(room, CAROL, text, now) for text in texts]
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


def test_a_message_heard_while_its_room_is_being_read_is_not_lost(process: Process) -> None:
    """Alice opens room 2, which nobody here was in: the process reads its latest messages
    from the database, and Carol's message, stored elsewhere just after that read began,
    comes from Redis before the read is back. The read cannot have seen it."""
    process.factory.room_exists.existing.add(2)
    reading: Deferred[tuple[int, list[JSON]]] = Deferred()
    process.store.latest = lambda room_id, count: reading
    second = MemoryClient(process.site, "/ws/2", origin=ORIGIN, headers=process.alice)
    (carols,) = process.stored_elsewhere("while you were loading", room=2)
    process.hear(MESSAGES, carols)
    reading.callback((0, []))  # what the database held when the read began
    second.take_welcome()
    seen = [m["id"] for m in second.new_messages() if m.get("type") == "message"]
    second.disconnect()
    assert seen == [1], (
        f"Carol's message 1 came from Redis while room 2 was being read from the database, "
        f"and Alice, in room 2, was sent {seen}. Keep what Redis brings for a room being "
        "loaded, and hand it to the room (arrive) once it is there: the read may have begun "
        "before the message was stored."
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


def test_a_gap_read_that_began_too_early_is_read_again_not_skipped(process: Process) -> None:
    """A read answers with what was stored when it began. While it is under way the room
    delivers what arrives in order, so its answer may stop below an id heard meanwhile."""
    first, second = process.stored_elsewhere("one", "two")
    process.store.hold_reads()
    process.hear(MESSAGES, second)
    ((question, early_read),) = process.store.held_reads
    process.store.held_reads.clear()
    as_it_began = process.store.read(*question)  # messages 1 and 2; the last id is 2
    _, fourth = process.stored_elsewhere("three", "four")
    process.hear(MESSAGES, first)  # 1 comes after all: 1 and 2 go out
    process.hear(MESSAGES, fourth)  # 4, while 3 is not heard of yet
    early_read.callback(as_it_began)
    process.store.release_reads()
    seen = process.seen()
    assert seen == [1, 2, 3, 4], (
        f"A read for the gap before message 2 began when the database held 1 and 2; "
        f"meanwhile 1 came from Redis, then 4, and 3 had been stored after the read began. "
        f"Alice was sent {seen}. An answer whose last id is not past the room's last_id says "
        "nothing of the next id: ask again (Room.filled), never take the next id for pruned."
    )


def test_a_gap_whose_messages_were_pruned_meanwhile_is_passed_over(process: Process) -> None:
    _, _, third = process.stored_elsewhere("one", "two", "three")
    process.store.forget_before(1, 3)  # prune_messages kept only the latest
    process.hear(MESSAGES, third)
    seen = process.seen()
    assert seen == [3], (
        f"Messages 1 and 2 were pruned before this process read the gap below 3, and Alice "
        f"was sent {seen}. When the store holds ids past the room's last_id but not the next "
        "one, that one is gone for good: carry on from the first message there is."
    )


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


# -- where PostgreSQL and Redis are: the settings every process shares -----------------------


@pytest.fixture
def settings_module(
    import_from_stage: Callable[[str], ModuleType], django_in_process: None
) -> ModuleType:
    """The stage's settings module, imported once Django is set up on the run's database
    (importing it first would fix DATABASES for this process before the run says where)."""
    return import_from_stage("django_twisted_chat.settings")


def test_database_url_says_where_postgresql_is(
    settings_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://chat:s%40cret@db.example.com:6543/talk")
    found = settings_module.database_from_environment()
    wanted = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "talk",
        "HOST": "db.example.com",
        "PORT": "6543",
        "USER": "chat",
        "PASSWORD": "s@cret",
    }
    assert {key: found.get(key) for key in wanted} == wanted, (
        f"DATABASE_URL=postgresql://chat:s%40cret@db.example.com:6543/talk became {found}."
    )


def test_without_database_url_the_pg_variables_say_it(
    settings_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PGHOST", "db.example.com")
    monkeypatch.delenv("PGDATABASE", raising=False)
    found = settings_module.database_from_environment()
    assert (found["NAME"], found["HOST"]) == ("django_twisted_chat", "db.example.com"), (
        f"With PGHOST set and no DATABASE_URL or PGDATABASE, the database should be "
        f"django_twisted_chat on db.example.com; the settings said {found}."
    )


@pytest.mark.parametrize("url", ["sqlite:///db.sqlite3", "postgresql://db.example.com:99999/x"])
def test_a_database_url_that_is_not_postgresql_is_refused_in_plain_words(
    settings_module: ModuleType, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ImproperlyConfigured, match="is not a PostgreSQL address; write it like"):
        settings_module.database_from_environment()


def test_a_redis_url_that_is_not_one_is_refused_in_plain_words(
    chatserver_code: SimpleNamespace,
) -> None:
    config = chatserver_code.config
    with pytest.raises(config.ConfigError, match="CHAT_REDIS_URL: 'localhost:6379'"):
        config.Config.from_environ({"CHAT_REDIS_URL": "localhost:6379"})
    chosen = config.Config.from_environ({"CHAT_REDIS_URL": "redis://cache.example.com:6380/2"})
    assert chosen.redis_url == "redis://cache.example.com:6380/2"


# -- PostgreSQL: every query of a read sees its own moment ---------------------------------------


@contextmanager
def stored_after_the_first_query(store: Callable[[], object]) -> Iterator[None]:
    """In this block, the first query Django runs on this thread is followed at once by
    ``store()`` in a thread of its own, on a connection of its own, before the next query
    begins: another chat process committing a message just then, at the worst moment.

    A store that cannot finish within MAX_WAIT is held up by the read itself, and the check
    says so rather than wait for ever."""
    from django.db import connection, connections

    queries = 0
    problems: list[BaseException] = []

    def store_elsewhere() -> None:
        try:
            store()
        except Exception as problem:  # said by the check, in the reading thread
            problems.append(problem)
        finally:
            connections.close_all()  # this thread's own connection

    def then_store(execute: Callable[..., object], *query: object) -> object:
        nonlocal queries
        result = execute(*query)
        queries += 1
        if queries == 1:
            other = threading.Thread(target=store_elsewhere, name="another process")
            other.start()
            other.join(timeout=waits.MAX_WAIT)
            assert not other.is_alive(), (
                f"Another process could not store a message in the room within "
                f"{waits.MAX_WAIT:g} s while this one was reading the room: the read holds "
                "the room's row. Read without locking it (store.py), or every sender in the "
                "room waits for every reader."
            )
        return result

    with connection.execute_wrapper(then_store):
        yield
    assert queries > 1, f"The read ran {queries} query; a room's read needs its last id too."
    assert not problems, f"Another process's store failed during the read: {problems[0]!r}"


@dataclass(frozen=True)
class WrittenRoom:
    """A room in the real database, holding messages 1 and 2, that another process writes to."""

    code: SimpleNamespace
    id: int
    writer: FakePerson

    def store(self, *texts: str) -> None:
        """Store ``texts`` as another chat process would: committed, told to nobody here."""
        draft = self.code.messages.Draft
        self.code.store.save_drafts([draft(self.id, self.writer, t, time.time()) for t in texts])


@pytest.fixture
def written_room(chatserver_code: SimpleNamespace, django_in_process: None) -> WrittenRoom:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from chat.models import ChatRoom

    room = ChatRoom.objects.create(name="read while written").pk
    user, _ = get_user_model().objects.get_or_create(username="elsewhere")
    connections.close_all()
    made = WrittenRoom(chatserver_code, room, FakePerson(user.pk, "elsewhere", "elsewhere-session"))
    made.store("one", "two")
    return made


def up_to_the_last_id(read: str, last_id: int, ids: list[int], first: int) -> None:
    """Fail unless ``ids``, what ``read`` returned with ``last_id``, are every id from
    ``first`` to the last id: none above it, none missing below it."""
    assert ids == list(range(first, last_id + 1)), (
        f"{read} read the room's last id as {last_id} and returned the messages {ids}, while "
        f"another process committed message 3 between its two queries. In PostgreSQL each "
        f"query sees what was committed when it began, even inside one transaction, so the "
        f"second query can see a message the first did not count. Read the messages up to the "
        f"last id and no further (store.py): a message above the room's last id is sent out "
        f"of turn, and sent again when Redis brings it."
    )


def test_a_rooms_first_read_stops_at_its_last_id_whatever_is_committed_meanwhile(
    written_room: WrittenRoom,
) -> None:
    with stored_after_the_first_query(lambda: written_room.store("three")):
        last_id, messages = written_room.code.store.latest_messages(written_room.id, 50)
    up_to_the_last_id("latest_messages", last_id, [m["id"] for m in messages], 1)


def test_a_gap_fill_stops_at_its_last_id_whatever_is_committed_meanwhile(
    written_room: WrittenRoom,
) -> None:
    with stored_after_the_first_query(lambda: written_room.store("three")):
        messages, last_id = written_room.code.store.messages_after(written_room.id, 1, 50)
    up_to_the_last_id("messages_after(room, 1, ...)", last_id, [m["id"] for m in messages], 2)


# -- PostgreSQL away: Django's pages say so in plain words -------------------------------------


def test_a_page_asked_for_while_postgresql_is_away_is_a_plain_words_503(
    django_in_process: None,
) -> None:
    from django.db import connection
    from django.test import Client

    closed = socket.socket()  # bound, never listening: every connection to it is refused
    closed.bind(("127.0.0.1", 0))
    database = connection.settings_dict
    kept = database["HOST"], database["PORT"]
    connection.close()
    database["HOST"], database["PORT"] = closed.getsockname()[0], str(closed.getsockname()[1])
    try:
        browser = Client()
        browser.cookies["sessionid"] = "a" * 32  # a session to look up: the database is asked
        answer = browser.get("/chats/", HTTP_HOST="localhost")
    finally:
        connection.close()
        database["HOST"], database["PORT"] = kept
        closed.close()
    page = answer.content.decode()
    assert answer.status_code == 503 and "cannot reach its database" in page, (
        f"With PostgreSQL away, /chats/ answered {answer.status_code}; it should be a 503 "
        f"page that says so in plain words (chat/unavailable.py). It began: {page[:300]!r}"
    )
    assert "Traceback" not in page and answer.get("Retry-After"), (
        "The 503 page should carry a Retry-After header and no traceback."
    )
    header = page.partition("<header")[2].partition("</header>")[0]
    offers = [word for word in ("Log in", "Sign up", "Log out") if word in header]
    found = f"it offers {', '.join(offers)}" if offers else "it does not say so"
    assert "sign-in unavailable" in header.lower() and not offers, (
        f"While PostgreSQL is away nobody can log in, and who is logged in cannot be read: "
        f"the 503 page's header should say so in plain words (Sign-in unavailable while the "
        f"database is away), and offer no login; {found}. (chats/database_down.html; its "
        f"header: {header.strip()[:300]!r})"
    )
