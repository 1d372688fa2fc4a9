"""Clients that behave as the room pages do from chapter 06 on (feature "history").

They remember the id of the last message they got and carry on from it after any break,
give every message they send a ref, keep it until the chat server acknowledges it, and send
it again, under the same ref, until it does. Each runs in threads of its own, so that a
check can kill the chat server under them and look afterwards at what each one saw:

- ``ResumingSocket``: a WebSocket, reconnecting to ``/ws/<room>?after=<last id>``;
- ``ResumingPoller``: long-polls ``?after=<cursor>``, and POSTs one message at a time.

``read_history`` reads a room's whole history back through the long-poll API.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from . import people, protocol, waits
from .longpoll_client import LongPollClient
from .wsclient import ChatSite, as_origin, django_origin, room_url

JSON = dict[str, Any]

RETRY_PAUSE = 0.2
"""Seconds a client waits before it tries again after a failure (the pages back off more)."""

HTTP_FAILURES = (AssertionError, OSError, http.client.HTTPException)
"""No answer from the long-poll API (the server is away), or an error answer to a poll."""

NO_ANSWER_BEHIND_A_PROXY = (502, 504)
"""What a load balancer answers when the chat process behind it died or stayed silent with
a request: the same as no answer at all."""


@dataclass
class Seen:
    """What one client has been told, for the checks to look at afterwards."""

    name: str
    messages: list[JSON] = field(default_factory=list)
    """Every chat message it received, in the order they came: repeats would show here."""
    acks: dict[str, int] = field(default_factory=dict)
    """The id the server gave each of its refs."""
    missed: list[JSON] = field(default_factory=list)
    """The "missed" notices (WebSocket) or missed answers (long-poll) it got."""
    errors: list[JSON] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Breaches of the protocol it noticed, in plain words (a first message not a welcome)."""
    connections: int = 0

    @property
    def last_id(self) -> int:
        return self.messages[-1]["id"] if self.messages else 0


class Outbox:
    """Messages a client has said and the server has not acknowledged yet, oldest first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.waiting: dict[str, str] = {}  # ref -> text, in the order said
        self.said: dict[str, str] = {}  # every ref ever said -> its text

    def say(self, text: str) -> str:
        ref = f"{self.name}-{uuid.uuid4().hex[:12]}"
        with self.lock:
            self.waiting[ref] = text
            self.said[ref] = text
        return ref

    def unsent(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.waiting.items())

    def done(self, ref: str) -> None:
        with self.lock:
            self.waiting.pop(ref, None)

    def __len__(self) -> int:
        with self.lock:
            return len(self.waiting)


class ResumingClient:
    """What the two kinds of client share: an outbox, what was seen, a thread, a pause.

    ``lose_answers``: the share of acknowledgements the client acts as if it never got, as
    when the network fails just after the server answered: a WebSocket drops its connection
    there and then. It sends those messages again, under the same ref: a POST at once, a
    WebSocket message on its next connection.
    """

    def __init__(
        self,
        site: ChatSite,
        room: int,
        username: str,
        after: int,
        lose_answers: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.site = site
        self.room = room
        self.username = username
        self.name = f"{type(self).__name__.removeprefix('Resuming').lower()}:{username}"
        self.seen = Seen(self.name)
        self.outbox = Outbox(f"{username}{next(_numbers)}")
        self.start_after = after
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.running = threading.Event()  # cleared while the client is cut off
        self.running.set()
        self.threads: list[threading.Thread] = []
        self.lose_answers = lose_answers
        self.chance = random.Random(seed)
        self.answers_lost = 0

    def lost(self) -> bool:
        """Whether to act as if this acknowledgement never came."""
        if self.lose_answers and self.chance.random() < self.lose_answers:
            self.answers_lost += 1
            return True
        return False

    def say(self, text: str) -> str:
        """Queue a message to send; its ref."""
        return self.outbox.say(text)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.running.set()
        for thread in self.threads:
            thread.join(timeout=2 * waits.MAX_WAIT)

    def cut_off(self) -> None:
        """Lose the connection, and stay away until ``come_back``."""
        self.running.clear()

    def come_back(self) -> None:
        self.running.set()

    def last_id(self) -> int:
        with self.lock:
            return max(self.start_after, self.seen.last_id)

    def received(self, message: JSON) -> None:
        with self.lock:
            self.seen.messages.append(message)

    def acknowledged(self, ref: str, message_id: int) -> None:
        with self.lock:
            self.seen.acks[ref] = message_id
        self.outbox.done(ref)


_numbers = itertools.count(1)


class ResumingSocket(ResumingClient):
    """A WebSocket client that does what chat.js does."""

    def __init__(
        self,
        site: ChatSite,
        room: int,
        username: str = people.VISITOR,
        after: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(site, room, username, after, **options)
        self.threads = [threading.Thread(target=self.run, name=self.name, daemon=True)]

    def run(self) -> None:
        while not self.stopping.is_set():
            self.running.wait()
            with suppress(ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                self.one_connection()  # until the connection breaks, or is cut off
            time.sleep(RETRY_PAUSE)

    def one_connection(self) -> None:
        url = f"{room_url(self.site, self.room)}?after={self.last_id()}"
        with connect(
            url,
            origin=as_origin(django_origin(self.site)),
            additional_headers=self.site.credentials(self.username),
            open_timeout=waits.MAX_WAIT,
            close_timeout=1,
            max_size=2**24,
        ) as connection:
            self.seen.connections += 1
            first = json.loads(connection.recv(timeout=waits.MAX_WAIT))
            if first.get("type") != "welcome":
                self.seen.problems.append(f"the first message was {first}, not the welcome")
            sent: set[str] = set()
            hold_until = 0.0
            while not self.stopping.is_set():
                if not self.running.is_set():
                    connection.socket.close()  # cut off: no closing handshake, as a network fails
                    return
                if time.monotonic() >= hold_until:
                    for ref, text in self.outbox.unsent():
                        if ref not in sent:
                            connection.send(json.dumps({"text": text, "ref": ref}))
                            sent.add(ref)
                try:
                    frame = json.loads(connection.recv(timeout=0.02))
                except TimeoutError:
                    continue
                if frame.get("type") == "ack" and self.lost():
                    connection.socket.close()  # the network fails: the ack never arrives
                    return
                hold = self.handle(frame, sent)
                if hold:
                    hold_until = time.monotonic() + hold

    def handle(self, frame: JSON, sent: set[str]) -> float:
        """Take in one frame; seconds to hold back sending, if the server asked."""
        kind = frame.get("type")
        if kind == "message":
            self.received(frame)
        elif kind == "ack":
            self.acknowledged(frame["ref"], frame["id"])
        elif kind == "missed":
            self.seen.missed.append(frame)
        elif kind == "error":
            self.seen.errors.append(frame)
            if frame.get("code") in ("rate_limited", "not_stored") and frame.get("ref"):
                sent.discard(frame["ref"])
                return float(frame.get("retry_after") or RETRY_PAUSE)
        elif kind == "welcome" or not protocol.is_ignored(frame):
            self.seen.problems.append(f"an unexpected {frame} after the welcome")
        return 0.0


class ResumingPoller(ResumingClient):
    """A long-poll client that does what longpoll.js does: one thread polls, one POSTs."""

    def __init__(
        self,
        site: ChatSite,
        room: int,
        username: str = people.VISITOR,
        after: int = 0,
        poll_timeout: float = 2.0,
        **options: Any,
    ) -> None:
        super().__init__(site, room, username, after, **options)
        self.client = LongPollClient(
            site.url("chatserver", ""),
            room,
            origin=django_origin(site),
            timeout=poll_timeout + waits.MAX_WAIT,
            headers=site.credentials(username),
        )
        self.client.cursor = after
        self.threads = [
            threading.Thread(target=self.read, name=f"{self.name} polls", daemon=True),
            threading.Thread(target=self.send, name=f"{self.name} posts", daemon=True),
        ]

    def read(self) -> None:
        while not self.stopping.is_set():
            self.running.wait()
            try:
                answer = self.client.poll("the next poll's answer")
            except HTTP_FAILURES:  # the server is away, or answered with an error
                time.sleep(RETRY_PAUSE)
                continue
            self.seen.connections += 1
            if answer.get("missed"):
                self.seen.missed.append(answer)
            for message in answer["messages"]:
                self.received(message)

    def send(self) -> None:
        while not self.stopping.is_set():
            self.running.wait()
            unsent = self.outbox.unsent()
            if not unsent:
                time.sleep(0.01)
                continue
            ref, text = unsent[0]
            try:
                answer = self.client.send(text, ref=ref)
            except HTTP_FAILURES:  # no answer: perhaps stored, perhaps not; the same ref again
                time.sleep(RETRY_PAUSE)
                continue
            if answer.status in (200, 201):
                if not self.lost():
                    self.acknowledged(ref, answer.json()["id"])
            elif answer.status in (429, 503):
                time.sleep(float(answer.headers.get("Retry-After") or RETRY_PAUSE))
            elif answer.status in NO_ANSWER_BEHIND_A_PROXY:  # perhaps stored: the same ref again
                time.sleep(RETRY_PAUSE)
            else:
                self.seen.errors.append({"status": answer.status, "body": answer.text})
                self.outbox.done(ref)


def read_history(site: ChatSite, room: int, username: str = people.VISITOR) -> list[JSON]:
    """Every message the room keeps, oldest first, read a page at a time with long-polls."""
    client = LongPollClient(
        site.url("chatserver", ""),
        room,
        origin=django_origin(site),
        timeout=waits.MAX_WAIT,
        headers=site.credentials(username),
    )
    last = client.start()["cursor"]
    client.cursor = 0
    found: list[JSON] = []
    while client.cursor < last:
        before = client.cursor
        answer = client.poll(f"the history of room {room} after message {client.cursor}")
        found.extend(answer["messages"])
        if client.cursor <= before:
            raise AssertionError(
                f"Reading room {room}'s history, a poll after message {before} (the room's last "
                f"id is {last}) was answered {answer}: its cursor did not move on."
            )
    return found


def errors_sent_to(clients: Iterable[ResumingClient]) -> str:
    """A sentence for a failure message: the errors the chat server answered ``clients``
    with, which most likely say why they are stuck."""
    told = [
        f"to {client.name}: {protocol.errors_listed(client.seen.errors, most=1)}"
        for client in clients
        if client.seen.errors
    ]
    if not told:
        return ""
    return f" Meanwhile the chat server sent these errors, which say why: {'; '.join(told)}."


def wait_until_acknowledged(clients: Iterable[ResumingClient], within: float) -> None:
    """Wait until every message said by ``clients`` has been acknowledged."""
    everyone = list(clients)
    deadline = time.monotonic() + within
    while any(len(client.outbox) for client in everyone):
        if time.monotonic() > deadline:
            waiting = ", ".join(f"{client.name}: {len(client.outbox)}" for client in everyone)
            raise AssertionError(
                f"After {within:g} s some messages were still not acknowledged ({waiting}). "
                "The chat server should answer each message with an ack (WebSocket) or a 201 "
                "or 200 (POST) once it is stored, also when a client sends it again after a "
                f"break, under the same ref.{errors_sent_to(everyone)}"
            )
        time.sleep(0.05)


def wait_until_caught_up(clients: Iterable[ResumingClient], last_id: int, within: float) -> None:
    """Wait until every one of ``clients`` has received message ``last_id``."""
    everyone = list(clients)
    deadline = time.monotonic() + within
    while any(client.last_id() < last_id for client in everyone):
        if time.monotonic() > deadline:
            where = ", ".join(f"{client.name} at {client.last_id()}" for client in everyone)
            raise AssertionError(
                f"After {within:g} s not every client had caught up with message {last_id} "
                f"({where}). A client that comes back with ?after=<the last id it saw> should "
                f"be sent every message since.{errors_sent_to(everyone)}"
            )
        time.sleep(0.05)
