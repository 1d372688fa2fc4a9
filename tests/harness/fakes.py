"""Stand-ins for what the chat server talks to, so in-process checks decide every answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, fail, succeed
from twisted.web.resource import Resource
from twisted.web.server import Site

ORIGIN = "http://localhost:8000"
"""The Django site's origin under the default settings (DJANGO_PORT 8000)."""


class FakeRooms:
    """Stands in for Django's database: which room ids exist, and who asked about which.

    Normally it answers at once. After ``hold()`` it keeps every question waiting until
    ``answer()`` or ``fail()``, like a slow database.
    """

    def __init__(self, *existing: int) -> None:
        self.existing = set(existing)
        self.asked: list[int] = []
        self.holding = False
        self.waiting: list[tuple[int, Deferred[bool]]] = []

    def __call__(self, room_id: int) -> Deferred[bool]:
        self.asked.append(room_id)
        if not self.holding:
            return succeed(room_id in self.existing)
        answer: Deferred[bool] = Deferred()
        self.waiting.append((room_id, answer))
        return answer

    def hold(self) -> None:
        self.holding = True

    def answer(self) -> None:
        waiting, self.waiting = self.waiting, []
        for room_id, answer in waiting:
            answer.callback(room_id in self.existing)

    def fail(self, problem: Exception) -> None:
        waiting, self.waiting = self.waiting, []
        for _, answer in waiting:
            answer.errback(problem)


@dataclass(frozen=True)
class FakePerson:
    """A logged-in person as the chat server's people.Person has them."""

    id: int
    name: str
    session_key: str


VISITOR = FakePerson(1, "visitor", "visitor-session")


class FakePeople:
    """Stands in for Django's sessions on a stage with logins: whose is each session cookie.

    ``FakePeople(code)`` knows only the people given to ``log_in``; ``FakePeople(code,
    anyone=VISITOR)`` takes every request for that one person, for the checks that are not
    about logins (and so checks no CSRF token either). ``code`` holds the stage's ``people``
    module, whose refusals (LoggedOut, BadCsrfToken) it answers with.
    """

    def __init__(self, code: Any, anyone: FakePerson | None = None) -> None:
        self.code = code
        self.anyone = anyone
        self.sessions: dict[str, FakePerson] = {}
        self.asked = 0
        """How many times the chat server has asked whose session a request carries."""

    def log_in(self, person: FakePerson) -> dict[str, str]:
        """Make ``person``'s session; the headers a page of theirs sends."""
        self.sessions[person.session_key] = person
        token = f"token-of-{person.name}"
        return {
            "Cookie": f"sessionid={person.session_key}; csrftoken={token}",
            "X-CSRFToken": token,
        }

    def log_out(self, person: FakePerson) -> None:
        self.sessions.pop(person.session_key, None)

    def __call__(self, headers: Mapping[str, str], secure: bool, posting: bool) -> Deferred[Any]:
        self.asked += 1
        if self.anyone is not None:
            return succeed(self.anyone)
        cookies = SimpleCookie(headers.get("cookie", ""))
        session = cookies["sessionid"].value if "sessionid" in cookies else None
        person = self.sessions.get(session or "")
        if person is None:
            return fail(self.code.people.LoggedOut())
        token = cookies["csrftoken"].value if "csrftoken" in cookies else None
        if posting and (token is None or headers.get("x-csrftoken") != token):
            return fail(self.code.people.BadCsrfToken())
        return succeed(person)


class FakeStore:
    """Stands in for the database where a stage keeps every message (feature "history").

    It keeps the messages of each room in a list and gives ids the way the stage's store
    does: counting up from 1 in each room, a ref its author has used in the room before is
    not stored again. Normally it answers at once, so a message sent in a check is stored
    and broadcast before the check goes on. After ``hold()`` it keeps every group of
    messages it is asked to save waiting (in ``groups``) until ``release()``, like a slow
    disk; ``fail_next()`` makes the next save fail, like a database that is down; and after
    ``hold_reads()`` it keeps the questions about older messages (``after``) waiting until
    ``release_reads()``, like a slow query.
    """

    def __init__(self) -> None:
        self.rooms: dict[int, list[dict[str, Any]]] = {}
        self.last_ids: dict[int, int] = {}
        self.refs: dict[tuple[int, int, str], dict[str, Any]] = {}
        self.groups: list[list[Any]] = []
        """Every group of drafts the stage asked to save, in order."""
        self.holding = False
        self.held: list[tuple[list[Any], Deferred[list[Any]]]] = []
        self.failing: Exception | None = None
        self.holding_reads = False
        self.held_reads: list[tuple[tuple[int, int, int], Deferred[Any]]] = []
        self.reads: list[tuple[int, int]] = []
        """Every (room, cursor) the stage asked the database about, in order."""

    # -- what the stage's factory calls --------------------------------------------------

    def latest(self, room_id: int, count: int) -> Deferred[tuple[int, list[dict[str, Any]]]]:
        kept = self.rooms.get(room_id, [])
        return succeed((self.last_ids.get(room_id, 0), kept[-count:] if count else []))

    def after(
        self, room_id: int, cursor: int, count: int
    ) -> Deferred[tuple[list[dict[str, Any]], int]]:
        self.reads.append((room_id, cursor))
        if self.holding_reads:
            answer: Deferred[Any] = Deferred()
            self.held_reads.append(((room_id, cursor, count), answer))
            return answer
        return succeed(self.read(room_id, cursor, count))

    def read(self, room_id: int, cursor: int, count: int) -> tuple[list[dict[str, Any]], int]:
        newer = [m for m in self.rooms.get(room_id, []) if m["id"] > cursor][:count]
        return newer, self.last_ids.get(room_id, 0)

    def save(self, drafts: list[Any]) -> Deferred[list[Any]]:
        self.groups.append(list(drafts))
        if self.failing is not None:
            problem, self.failing = self.failing, None
            return fail(problem)
        if not self.holding:
            return succeed(self.store(drafts))
        answer: Deferred[list[Any]] = Deferred()
        self.held.append((list(drafts), answer))
        return answer

    # -- what checks call ------------------------------------------------------------------

    def store(self, drafts: list[Any]) -> list[tuple[dict[str, Any], bool]]:
        """Store drafts (the stage's messages.Draft) as the stage's store would."""
        outcomes = []
        for draft in drafts:
            key = (draft.room_id, draft.author.id, draft.ref)
            if draft.ref is not None and key in self.refs:
                outcomes.append((self.refs[key], False))
                continue
            message_id = self.last_ids.get(draft.room_id, 0) + 1
            self.last_ids[draft.room_id] = message_id
            message = draft.message(message_id)
            self.rooms.setdefault(draft.room_id, []).append(message)
            if draft.ref is not None:
                self.refs[key] = message
            outcomes.append((message, True))
        return outcomes

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        """Store every group held so far, in order, and stop holding."""
        self.holding = False
        held, self.held = self.held, []
        for drafts, answer in held:
            answer.callback(self.store(drafts))

    def hold_reads(self) -> None:
        self.holding_reads = True

    def release_reads(self) -> None:
        """Answer every question held so far, from the messages stored by now."""
        self.holding_reads = False
        held, self.held_reads = self.held_reads, []
        for question, answer in held:
            answer.callback(self.read(*question))

    def fail_next(self, problem: Exception) -> None:
        self.failing = problem

    def forget_before(self, room_id: int, message_id: int) -> None:
        """Drop a room's messages older than ``message_id``, as prune_messages does."""
        self.rooms[room_id] = [m for m in self.rooms.get(room_id, []) if m["id"] >= message_id]


SHORT_TEXTS = {"CHAT_MAX_LENGTH": "20"}
"""A short text limit, so in-process checks reach it quickly. Other settings keep defaults."""


def chat_factory(
    code: Any,
    settings: Mapping[str, str] | None,
    rooms: tuple[int, ...],
    *,
    short_texts: bool = True,
    people: FakePeople | None = None,
    store: FakeStore | None = None,
) -> tuple[Any, task.Clock, FakeRooms]:
    """The stage's ChatServerFactory, with the room lookup and the clock in the check's hands.

    ``code`` holds the stage's ``config`` and ``factory`` modules. ``settings`` are added to
    SHORT_TEXTS (unless ``short_texts=False``). On a stage with logins, ``people`` says whose
    each session is (by default every request is VISITOR's); on a stage that stores its
    messages (``code`` has its ``store`` module), ``store`` stands in for
    the database (by default a new, empty FakeStore). Returns the factory, its clock and its
    fake rooms (which of ``rooms`` exist).
    """
    environ = {**(SHORT_TEXTS if short_texts else {}), **(settings or {})}
    config = code.config.Config.from_environ(environ)
    fake_rooms = FakeRooms(*rooms)
    clock = task.Clock()
    clock.advance(1_800_000_000)  # a moment in 2027, so timestamps look like real ones
    logins = {}
    if hasattr(code, "people"):
        logins["find_person"] = people or FakePeople(code, anyone=VISITOR)
    if hasattr(code, "store"):
        logins["store"] = store or FakeStore()
    factory = code.factory.ChatServerFactory(config, room_exists=fake_rooms, clock=clock, **logins)
    return factory, clock, fake_rooms


class FakeDjango(Resource):
    """Stands in for Django's pages and static files in a stage that serves them beside the
    chat, so in-process checks can tell which of the two answered a path."""

    isLeaf = True
    ANSWER = b"a page from Django\n"

    def render(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return self.ANSWER


def pages_on_port(port: int, one_process: bool) -> dict[str, str]:
    """Settings for pages served on ``port``: DJANGO_PORT tells a chat server of its own
    where they come from; a process that serves them itself listens there (CHAT_LISTEN)."""
    return {"CHAT_LISTEN": f"tcp:{port}"} if one_process else {"DJANGO_PORT": str(port)}


def chat_resource(code: Any, factory: Any, one_process: bool) -> Resource:
    """The stage's root resource: the chat alone, or in one process with Django
    (``one_process``: the stage has single_process), which a FakeDjango stands in for."""
    if one_process:
        return code.resource.root_resource(factory, FakeDjango(), FakeDjango())
    return code.resource.root_resource(factory)


def chat_site(code: Any, factory: Any, one_process: bool) -> Site:
    """The stage's own Site (chatserver.web.ChatSite), as chat_resource builds its root."""
    if one_process:
        return code.web.ChatSite(factory, FakeDjango(), FakeDjango())
    return code.web.ChatSite(factory)
