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


SHORT_TEXTS = {"CHAT_MAX_LENGTH": "20"}
"""A short text limit, so in-process checks reach it quickly. Other settings keep defaults."""


def chat_factory(
    code: Any,
    settings: Mapping[str, str] | None,
    rooms: tuple[int, ...],
    *,
    short_texts: bool = True,
    people: FakePeople | None = None,
) -> tuple[Any, task.Clock, FakeRooms]:
    """The stage's ChatServerFactory, with the room lookup and the clock in the check's hands.

    ``code`` holds the stage's ``config`` and ``factory`` modules. ``settings`` are added to
    SHORT_TEXTS (unless ``short_texts=False``). On a stage with logins, ``people`` says whose
    each session is (by default every request is VISITOR's). Returns the factory, its clock
    and its fake rooms (which of ``rooms`` exist).
    """
    environ = {**(SHORT_TEXTS if short_texts else {}), **(settings or {})}
    config = code.config.Config.from_environ(environ)
    fake_rooms = FakeRooms(*rooms)
    clock = task.Clock()
    clock.advance(1_800_000_000)  # a moment in 2027, so timestamps look like real ones
    logins = {}
    if hasattr(code, "people"):
        logins["find_person"] = people or FakePeople(code, anyone=VISITOR)
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
