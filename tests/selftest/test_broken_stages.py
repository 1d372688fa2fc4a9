"""The harness checks itself: a copy of a stage with a real mistake must fail, in plain words.

A check that cannot fail proves nothing. Each case below copies the reference stage, makes one
mistake a learner could make, runs the stage's checks against the copy with --stage-dir, and
requires a failure whose message tells the learner what to look at.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver

from harness import chat_page
from harness.processes import free_port
from selftest.copies import copy_stage, edit, run_checks


@dataclass(frozen=True)
class Caught:
    checks: str
    """A pytest -k expression choosing the checks that should catch it (keeps the run short)."""
    message: str
    """Words the failure must contain."""


@dataclass(frozen=True)
class Mistake:
    stage: str
    file: str
    correct: str
    broken: str
    checks: str
    """A pytest -k expression choosing the checks that should catch it (keeps the run short)."""
    message: str
    """Words the failure must contain."""
    in_a_browser: bool = False
    """Caught by a browser check, which must leave a screenshot and the server logs."""
    also_caught_by: tuple[Caught, ...] = ()
    """Checks of other kinds that must catch it too, in the same run (one copy, one
    preparation of the stage, one child pytest): each must fail and say its own words."""

    def caught(self) -> list[Caught]:
        """Every check that must catch the mistake, with the words it must say."""
        return [Caught(self.checks, self.message), *self.also_caught_by]


MISTAKES = {
    "redirect removed": Mistake(
        stage="part1",
        file="django_twisted_chat/urls.py",
        correct='    path("", RedirectView.as_view(pattern_name="chat:index"), name="home"),\n',
        broken="",
        checks="redirect or takes_you",
        message="not a redirect to /chats/",
    ),
    "room link broken": Mistake(
        stage="part1",
        file="chat/templates/chats/index.html",
        correct="{% url 'chat:chat_room' chat.id %}",
        broken="#",
        checks="listed_in_name_order",
        message="does not list the rooms",
        in_a_browser=True,
    ),
    "missing room crashes instead of 404": Mistake(
        stage="part1",
        file="chat/views.py",
        correct="chat = get_object_or_404(ChatRoom, pk=chat_room_id)",
        broken="chat = ChatRoom.objects.get(pk=chat_room_id)",
        checks="does_not_exist",
        message="get_object_or_404",
    ),
    "text inserted as HTML": Mistake(
        stage="part2",
        file="chat/static/chat/chat.js",
        correct="text.textContent = message.text;",
        broken="text.innerHTML = message.text;",
        checks="looks_like_html",
        message="Use textContent",
        in_a_browser=True,
    ),
    "long-poll page inserts HTML": Mistake(
        stage="part3",
        file="chat/static/chat/room.js",
        correct="text.textContent = message.text;",
        broken="text.innerHTML = message.text;",
        checks="stays_text_on_the_long_poll_page",
        message="Use textContent",
        in_a_browser=True,
    ),
    "message size checked only once gathered": Mistake(
        stage="twisted_websocket",
        file="chatserver/protocol.py",
        correct="        self.channel.dataReceived = reader.dataReceived\n",
        broken="",
        checks="refused_on_its_header_alone",
        message="Read the frame headers in front of the module",
    ),
    "a closing connection breaks the broadcast": Mistake(
        stage="twisted_websocket",
        file="chatserver/protocol.py",
        correct="        try:\n            self.transport.sendTextMessage(text)\n"
        "        except LocalProtocolError:\n            self.closing()\n",
        broken="        self.transport.sendTextMessage(text)\n",
        checks="closing_connection_does_not_break",
        message="catch that, and let the client leave its room",
    ),
    "a service that never finishes stopping": Mistake(
        stage="part3",
        file="chatserver.tac",
        correct="LongPollService(factory).setServiceParent(application)\n",
        broken="LongPollService(factory).setServiceParent(application)\n"
        "\n"
        "class NeverStops(service.Service):\n"
        "    def stopService(self):\n"
        "        from twisted.internet.defer import Deferred\n"
        "\n"
        "        return Deferred()  # fires never: twistd waits for it for ever\n"
        "\n"
        "\n"
        "NeverStops().setServiceParent(application)\n",
        checks="stopping_server_answers_waiting_polls",
        message="had to be killed",
    ),
    "a room loaded after a restart starts from 0": Mistake(
        stage="history",
        file="chatserver/factory.py",
        correct="loading.addCallback(lambda found: Room(room_id, self.config.history, *found))",
        broken="loading.addCallback(lambda found: Room(room_id, self.config.history, "
        "latest=found[1]))",
        checks="first_poll_after_a_restart",
        message="(store.latest), not from 0",
        also_caught_by=(
            Caught(  # on the real server
                "ids_carry_on_after_a_restart",
                "A room loaded after a restart starts from the last id in the database, not 0",
            ),
        ),
    ),
    "static files looked up on disk": Mistake(
        stage="single_process",
        file="chatserver/static.py",
        correct="        found = self.files.get(path)\n",
        broken="        found = self.files.get(path)\n"
        '        on_disk = os.path.join("chat", "static", path)\n'
        "        if found is None and os.path.isfile(on_disk):\n"
        "            found = on_disk\n",
        checks="only_listed_static_files or climbs_out",
        message="never join it onto a folder on disk",
    ),
    "pages on the reactor's thread pool": Mistake(
        stage="single_process",
        file="chatserver/pages.py",
        correct='pool = ThreadPool(minthreads=1, maxthreads=page_threads, name="django-pages")\n'
        "    return WSGIResource(reactor, pool, get_wsgi_application()), ThreadPoolService(pool)",
        broken="pool = reactor.getThreadPool()\n"
        "    return WSGIResource(reactor, pool, get_wsgi_application()), service.Service()",
        checks="do_not_hold_up_the_chat or every_page_thread_is_busy",
        message="Give the pages a thread pool of their own",
    ),
    "a resent ref not looked up before storing": Mistake(
        stage="history",
        file="chatserver/store.py",
        correct="found = Message.objects.filter(room_id__in=rooms, ref__in=refs)",
        broken="found = Message.objects.none()",
        checks="database_store_gives_ids",
        message="should answer each draft with a pair (message, is_new); for a message sent "
        "again under ref o1, stored before, and a new one, it answered [Rejected(",
        also_caught_by=(
            Caught(  # on the real server
                "resent_ref_is_stored_once_on_the_real_server",
                'Meanwhile the chat server sent these errors, which say why: {"type": "error", '
                '"code": "cannot_store"',
            ),
            Caught("crash_loses_no_acknowledged", "which say why: to socket:"),  # resuming clients
        ),
    ),
}


def break_copy(mistake: Mistake, into: Path) -> Path:
    """A copy of the mistake's stage with the mistake made in it."""
    folder = copy_stage(mistake.stage, into)
    edit(folder, mistake.file, mistake.correct, mistake.broken)
    return folder


def what_it_said(output: str) -> str:
    """What the failures in pytest's ``output`` said to the learner: the ``E`` lines of each
    traceback, and the whole of a message given without one (a server that had to be
    killed, say), but never the checks' own source code that a traceback shows."""
    failures = output.split("short test summary")[0]
    said = []
    for section in re.split(r"^_+ .+ _+$", failures, flags=re.MULTILINE)[1:]:
        lines = section.strip("\n").splitlines()
        if any(line.startswith(("E ", "> ")) for line in lines):
            said += [line for line in lines if line.startswith("E ")]
        else:
            said += lines
    return "\n".join(said)


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_stage_with_a_mistake_fails_in_plain_words(mistake: Mistake, tmp_path: Path) -> None:
    folder = break_copy(mistake, tmp_path)
    artefacts = tmp_path / "artefacts"

    caught = mistake.caught()
    choose = " or ".join(f"({each.checks})" for each in caught)
    result = run_checks(mistake.stage, folder, artefacts, "-k", choose)

    output = result.stdout + result.stderr
    assert result.returncode == 1, f"the checks did not fail on the broken copy:\n{output}"
    said = what_it_said(output)
    for each in caught:
        assert each.message in said, (
            f"the failure of {each.checks} does not say {each.message!r}:\n{output}"
        )
    if mistake.in_a_browser:
        run = (artefacts / "latest").resolve()
        named = [Path(line.strip()) for line in output.splitlines() if line.startswith("  /")]
        assert any(p.suffix == ".png" for p in named) and any(
            p.name == "server-django.log" for p in named
        ), f"the failure does not name a screenshot and a server log:\n{output}"
        assert all(p.is_file() and p.is_relative_to(run) for p in named), (
            f"the files the failure names are not this run's ({run}):\n{output}"
        )


@dataclass(frozen=True)
class StartupMistake:
    """A mistake that stops the stage being prepared or started at all."""

    stage: str
    file: str
    correct: str
    broken: str
    message: str
    """Words the one failure must contain; every other check must be left unrun."""


PORT_HELD_BY_ANOTHER_PROGRAM = free_port()
A_FIXED_PORT = free_port()
"""A port nobody uses, written into a copy where CHAT_PORT's should be read."""

STARTUP_MISTAKES = {
    "no migration yet": StartupMistake(
        stage="part1",
        file="chat/migrations/0001_initial.py",
        correct="",  # the whole file: the learner has not run makemigrations
        broken="",
        message="makemigrations chat",
    ),
    "system check error": StartupMistake(
        stage="part1",
        file="chat/admin.py",
        correct='list_display = ["name", "id"]',
        broken='list_display = ["name", "title"]',
        message="`python manage.py check` found problems",
    ),
    "missing requirement": StartupMistake(
        stage="part1",
        file="requirements.txt",
        correct="Django==",
        broken="workbook-no-such-package==1.0\nDjango==",
        message="workbook-no-such-package==1.0 (not installed)",
    ),
    "chat server exits at start": StartupMistake(
        stage="part2",
        file="chatserver.tac",
        correct='application = service.Application("chatserver")',
        broken='app = service.Application("chatserver")',
        message="The chatserver process stopped",
    ),
    "chat server on a port in use": StartupMistake(
        stage="part2",
        file="chatserver.tac",
        correct="internet.TCPServer(config.port,",
        broken=f"internet.TCPServer({PORT_HELD_BY_ANOTHER_PROGRAM},",
        message="Its port was already in use",
    ),
    "chat server on a fixed port": StartupMistake(
        stage="part2",
        file="chatserver.tac",
        correct="internet.TCPServer(config.port,",
        broken=f"internet.TCPServer({A_FIXED_PORT},",
        message="not on port",
    ),
    "a syntax error in the chat server": StartupMistake(
        stage="part2",
        file="chatserver/protocol.py",
        correct="    def connectionMade(self):\n",
        broken="    def connectionMade(self)\n",
        message="chatserver/protocol.py, line",
    ),
    "a module not written yet": StartupMistake(
        stage="part2",
        file="chatserver/config.py",
        correct="",  # the whole file: the learner is half way through chapter 02
        broken="",
        message="your folder has no chatserver/config.py",
    ),
}


def problems(output: str) -> int:
    """How many checks pytest's closing line says failed or could not be set up."""
    counts = re.findall(r"(\d+) (?:failed|errors?)\b", output.splitlines()[-1])
    return sum(int(count) for count in counts)


@pytest.mark.parametrize("mistake", STARTUP_MISTAKES.values(), ids=STARTUP_MISTAKES.keys())
def test_a_stage_that_cannot_start_is_reported_once_first(
    mistake: StartupMistake, tmp_path: Path
) -> None:
    folder = copy_stage(mistake.stage, tmp_path)
    if mistake.correct:
        edit(folder, mistake.file, mistake.correct, mistake.broken)
    else:
        (folder / mistake.file).unlink()

    with socket.socket() as held:  # another program holding a port, as in a workshop room
        held.bind(("127.0.0.1", PORT_HELD_BY_ANOTHER_PROGRAM))
        held.listen()
        result = run_checks(mistake.stage, folder, tmp_path / "artefacts", "--quick")

    output = result.stdout + result.stderr
    assert result.returncode == 1, f"the checks did not fail on the broken copy:\n{output}"
    assert problems(output) == 1, f"the problem was not reported exactly once:\n{output}"
    assert mistake.message in output.split("short test summary")[0], (
        f"the failure does not say {mistake.message!r}:\n{output}"
    )
    empty = [p for p in (tmp_path / "artefacts").rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert not empty, f"the run left empty evidence folders: {empty}"


# -- the harness's readers of a page that changes as they read it -----------------------------


class ShownElement:
    def __init__(self, text: str) -> None:
        self.text = text

    def get_attribute(self, name: str) -> str:
        return self.text


class ReplacedElement:
    """An element the page replaced between its finding and its reading."""

    def get_attribute(self, name: str) -> str:
        raise StaleElementReferenceException("stale element reference: element is not attached")


class ChangingPage:
    """A browser window whose message list is replaced while it is read, the first
    ``changes`` times, as the history page replaces its "sending…" lines."""

    def __init__(self, changes: int) -> None:
        self.changes = changes
        self.reads = 0

    def find_elements(self, by: str, selector: str) -> list[object]:
        self.reads += 1
        if self.reads <= self.changes:
            return [ShownElement("before"), ReplacedElement()]
        return [ShownElement("one"), ShownElement("two")]


def test_a_list_replaced_while_it_is_read_is_read_again() -> None:
    page = ChangingPage(changes=3)
    assert chat_page.messages(cast(WebDriver, page)) == ["one", "two"]
    assert page.reads == 4


def test_a_list_replaced_at_every_read_fails_in_plain_words() -> None:
    page = ChangingPage(changes=10**6)
    replaced = re.escape("replaced its '#message_list li .text' elements")
    with pytest.raises(AssertionError, match=replaced):
        chat_page.messages(cast(WebDriver, page))
    assert page.reads == chat_page.STALE_READS
