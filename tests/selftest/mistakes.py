"""The catalogue of mistakes learners make, each with the words the harness answers it with.

test_broken_stages.py makes each mistake in a copy of its stage and requires the failure to
say ``message``; the instructors' notes (tutorial/instructors.md) list every mistake with the
same words, and test_instructor_notes.py holds them to it. One list, read by both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.processes import free_port


@dataclass(frozen=True)
class Caught:
    """Another check that must catch a mistake, in the same run as its first."""

    checks: str
    """A pytest -k expression choosing the checks that should catch it."""
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
    also_caught_by: dict[str, Caught] = field(default_factory=dict)
    """Checks of other kinds that must catch it too, by name, in the same run (one copy, one
    preparation of the stage, one child pytest): each must fail and say its own words."""

    def caught(self) -> list[Caught]:
        """Every check that must catch the mistake, with the words it must say."""
        return [Caught(self.checks, self.message), *self.also_caught_by.values()]


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
    "a learner's own message before the welcome": Mistake(
        stage="part2",
        file="chatserver/protocol.py",
        correct="        self.send_json(messages.welcome(self.room.id, config))\n",
        broken='        self.send_json({"type": "presence", "here": len(self.room.clients)})\n'
        "        self.send_json(messages.welcome(self.room.id, config))\n",
        checks="a_message_reaches_everyone_in_its_room or messages_stay_in_their_room",
        message="Send anything else (presence, catching up) after the welcome",
        also_caught_by={
            "a learner's own message before the welcome, in memory": Caught(
                "clients_join_the_room_they_ask_for",
                "Send it from onOpen, before anything else (presence, catching up)",
            ),
        },
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
        also_caught_by={
            "a room loaded after a restart starts from 0, on the real server": Caught(
                "ids_carry_on_after_a_restart",
                "A room loaded after a restart starts from the last id in the database, not 0",
            ),
        },
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
        also_caught_by={
            "a resent ref not looked up before storing, on the real server": Caught(
                "resent_ref_is_stored_once_on_the_real_server",
                'Meanwhile the chat server sent these errors, which say why: {"type": "error", '
                '"code": "cannot_store"',
            ),
            "a resent ref not looked up before storing, under resuming clients": Caught(
                "crash_loses_no_acknowledged", "which say why: to socket:"
            ),
        },
    ),
}


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
