"""Chapter 4's single process: Django's pages, its static files and the chat on one port.

The checks of parts 1 to 3 already run against this one process (the harness asks it for
both "django" and "chatserver"). These check what is new: that it is one process on one
port, that it serves the static files and the admin itself, that slow pages never hold up
the chat, that it stops cleanly, and that pages from other sites are still refused.
"""

from __future__ import annotations

import json
import select
import signal
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import closing
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import psutil
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import deferLater
from twisted.web.server import Site
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness import chat_page, http, waits
from harness.admin import PASSWORD, USERNAME
from harness.browser import Browsers
from harness.fakes import ORIGIN, FakeDjango, chat_factory, chat_resource
from harness.longpoll_client import LongPollClient
from harness.memory_http import MemoryHTTP, get
from harness.processes import (
    READY_TIMEOUT,
    STOP_TIMEOUT,
    SiteWith,
    StageError,
    StageProcesses,
    tail,
)
from harness.wsclient import (
    MemoryClient,
    chat_connection,
    django_origin,
    handshake_status,
    joined,
    room_url,
)

pytestmark = pytest.mark.needs("single_process")

SLOW_PAGES = 4
"""Page requests kept waiting at once while the chat must carry on."""


# -- in process: which resource answers which path ----------------------------------------


def test_every_path_but_the_chat_and_static_files_goes_to_django(
    chatserver_code: SimpleNamespace,
) -> None:
    factory, _, _ = chat_factory(chatserver_code, None, (1,))
    root = Site(chat_resource(chatserver_code, factory, one_process=True))
    for path in ("/", "/chats/", "/chats/1/", "/admin/login/", "/nothing/here", "/wsx"):
        answer = get(root, path)
        assert answer.body == FakeDjango.ANSWER, (
            f"GET {path} did not reach Django (it answered {answer.status} "
            f"{answer.body[:80]!r}). The root resource should hand every path that is not "
            "/ws/, /rooms/ or /static/ to the WSGI resource (resource.py)."
        )
    assert get(root, "/ws/1").status == 426, "/ws/1 should stay the WebSocket endpoint."
    assert (
        get(root, "/rooms/1/messages")
        .headers.get("content-type", "")
        .startswith("application/json")
    ), "/rooms/<id>/messages should stay the long-poll API."


# -- against the running process ----------------------------------------------------------


def test_one_process_listens_on_one_port(site: StageProcesses) -> None:
    assert site.port("django") == site.port("chatserver")
    pid = site.pid("django")
    assert pid is not None, "The stage's process is not running."
    listening = {
        connection.laddr.port
        for connection in psutil.Process(pid).net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    }
    assert listening == {site.port("django")}, (
        f"The process listens on ports {sorted(listening)}; it should listen on one, the port "
        f"CHAT_LISTEN names ({site.port('django')}), and serve everything there."
    )


def test_the_page_and_the_chat_share_one_origin(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    page = http.request(site.url("django", f"/chats/{room}/"), headers=site.credentials())
    assert page.status == 200 and "TwistedWeb" in (page.headers.get("Server") or ""), (
        f"The room page came back {page.status} from {page.headers.get('Server')!r}; it should "
        "come from twisted.web, through the WSGI resource."
    )
    with joined(site, room) as chat:
        assert chat.welcome["room"] == room
    poll = LongPollClient(
        site.url("chatserver", ""),
        room,
        origin=django_origin(site),
        timeout=5,
        headers=site.credentials(),
    )
    assert poll.start()["room"] == room


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/chat/room.js", ("text/javascript", "application/javascript")),
        ("/static/chat/style.css", ("text/css",)),
        ("/static/admin/css/base.css", ("text/css",)),
    ],
)
def test_static_files_come_with_their_content_type_and_cache_headers(
    site: StageProcesses, path: str, content_type: tuple[str, ...]
) -> None:
    answer = http.request(site.url("django", path))
    got = (answer.headers.get("Content-Type") or "").split(";")[0]
    assert answer.status == 200 and got in content_type, (
        f"GET {path} answered {answer.status} as {got!r}; it should be 200 and "
        f"{' or '.join(content_type)}. Serve STATIC_URL with static.File (static.py), which "
        "knows the content type of each kind of file."
    )
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.get("Cache-Control"), f"GET {path} says nothing about caching."
    modified = answer.headers.get("Last-Modified")
    assert modified, f"GET {path} has no Last-Modified, so a browser cannot ask 'changed?'."
    again = http.request(site.url("django", path), headers={"If-Modified-Since": modified})
    assert again.status == 304 and not again.body, (
        f"Asked again with If-Modified-Since, {path} was sent whole ({again.status}), not 304."
    )


@pytest.mark.parametrize(
    "path",
    ["/static/chat/nothing.js", "/static/chat/", "/static/chat/..%2f..%2fmanage.py", "/static/"],
)
def test_only_listed_static_files_are_served(site: StageProcesses, path: str) -> None:
    answer = http.request(site.url("django", path))
    assert answer.status == 404, (
        f"GET {path} answered {answer.status} {answer.body[:120]!r}; only the files Django's "
        "finders (or collectstatic) know may be served: no folder listings, nothing outside."
    )


TRAVERSAL_DEPTHS = range(1, 7)
"""How many folders up the traversal check climbs from each static folder it starts in."""


def test_no_static_url_climbs_out_to_the_project_at_any_depth(site: StageProcesses) -> None:
    tried = [
        f"{start}{step * depth}manage.py"
        for start in ("/static/", "/static/chat/", "/static/admin/css/")
        for step in ("..%2f", "../")
        for depth in TRAVERSAL_DEPTHS
    ]
    served = []
    for path in tried:
        answer = http.request(site.url("django", path))
        if answer.status != 404:
            served.append(f"{path} ({answer.status})")
    assert not served, (
        f"{len(served)} of {len(tried)} URLs that climb out of a static folder with .. were "
        f"not refused with 404: {', '.join(served)}. A URL under /static/ names a file in the "
        "list made at start-up or gets a 404: never join it onto a folder on disk (static.py)."
    )


def test_the_admin_works_through_twisted(site: StageProcesses) -> None:
    login = site.url("django", "/admin/login/")
    cookie = http.log_in(login, USERNAME, PASSWORD)  # the form, its CSRF token, a session
    index = http.request(site.url("django", "/admin/"), headers={"Cookie": cookie})
    assert index.status == 200 and "Site administration" in index.text, (
        f"After logging in to the admin through twisted.web, /admin/ answered {index.status}. "
        "The WSGI resource must pass Django the form body and the cookies."
    )


def test_each_request_is_logged_with_the_client_address(site: StageProcesses) -> None:
    marker = "/chats/?logged=yes"
    assert http.request(site.url("django", marker), headers=site.credentials()).status == 200

    def logged() -> bool:
        return any(
            '"127.0.0.1"' in line and f"GET {marker} HTTP/1.1" in line and '" 200 ' in line
            for line in site.log_text("django").splitlines()
        )

    waits.wait_for(
        logged,
        f"No line for GET {marker} with the client's address and status appeared in the log. "
        "twisted.web's Site writes one per request in the combined log format. Its last "
        f"lines:\n{tail(site.log_text('django'), 8)}",
    )


@pytest.mark.needs("memory_only")  # from chapter 06 on, a message waits for the database too
def test_pages_waiting_for_the_database_do_not_hold_up_the_chat(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    pages = [HTTPConnection(site.host, site.port("django"), timeout=30) for _ in range(SLOW_PAGES)]
    with joined(site, room) as chat:
        for page in pages:  # open each connection now, so the requests below go straight in
            page.request("GET", "/chats/", headers=site.credentials())
            page.getresponse().read()
        with site.database_locked():
            for page in pages:
                page.request("GET", "/chats/", headers=site.credentials())  # Django waits
            for number in range(1, 4):
                chat.send_json({"text": f"while {SLOW_PAGES} pages wait, {number}"})
                chat.receive(
                    f"chat message {number} back while {SLOW_PAGES} page requests wait for the "
                    "database. If Django ran on the reactor thread, the chat would wait too: "
                    "give WSGIResource a thread pool (pages.py)"
                )
            answered = [page for page in pages if select.select([page.sock], [], [], 0)[0]]
            assert not answered, (
                f"{len(answered)} of the page requests were answered while the database was "
                "locked, so the check proves nothing; they should still be waiting."
            )
    statuses = [page.getresponse().status for page in pages]
    for page in pages:
        page.close()
    assert statuses == [200] * SLOW_PAGES, f"Once the database was free, pages got {statuses}."


class HeldPages:
    """A WSGI application whose pages wait until the check lets them go (at most HOLD s),
    standing in for Django pages that keep their threads busy."""

    HOLD = 60.0

    def __init__(self) -> None:
        self.entered = 0
        self.lock = threading.Lock()
        self.released = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            self.entered += 1
        self.released.wait(self.HOLD)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a page that waited\n"]


async def until(condition: Callable[[], object], failure: str) -> None:
    """Let the reactor run until ``condition()`` is true; fail with ``failure`` after
    waits.MAX_WAIT seconds."""
    deadline = time.monotonic() + waits.MAX_WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{failure} [waited {waits.MAX_WAIT:g} s]")
        await deferLater(reactor, 0.02, lambda: None)


def logged_in_in_process(username: str) -> dict[str, str]:
    """The Cookie header of a new session of ``username`` in the Django set up in this
    process (django_in_process)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_user(username))
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


@pytest_twisted.ensureDeferred
async def test_a_new_room_opens_while_every_page_thread_is_busy(
    chatserver_code: SimpleNamespace,
    import_from_stage: Callable[[str], ModuleType],
    stage_features: frozenset[str],
    django_in_process: None,
) -> None:
    from django.db import connections

    room = import_from_stage("chat.models").ChatRoom.objects.create(name="nobody asked yet").pk
    headers = logged_in_in_process("page-waiter") if "auth" in stage_features else {}
    connections.close_all()
    config = chatserver_code.config.Config.from_environ({"CHAT_PAGE_THREADS": "2"})
    pages_code = import_from_stage("chatserver.pages")
    held = HeldPages()
    with pytest.MonkeyPatch.context() as patch:  # the stage's pages, our page application
        patch.setattr("django.core.wsgi.get_wsgi_application", lambda: held)
        if hasattr(pages_code, "get_wsgi_application"):
            patch.setattr(pages_code, "get_wsgi_application", lambda: held)
        pages, page_threads = pages_code.django_pages(reactor, config.page_threads)
    page_threads.startService()
    site = chatserver_code.web.ChatSite(
        chatserver_code.factory.ChatServerFactory(config), pages, FakeDjango()
    )
    browser = MemoryHTTP(site, ORIGIN)
    # Enough pages to fill the page threads and, if pages ran there, the reactor's pool too.
    crowd = config.page_threads + reactor.getThreadPool().max
    try:
        waiting = [browser.get("/chats/") for _ in range(crowd)]
        await until(
            lambda: held.entered >= config.page_threads,
            f"Of {crowd} page requests, fewer than CHAT_PAGE_THREADS={config.page_threads} "
            "reached Django. django_pages should give WSGIResource a pool of that many threads "
            "and the service that starts it (pages.py).",
        )
        chat = MemoryClient(site, f"/ws/{room}", origin=ORIGIN, headers=headers)
        await until(
            lambda: chat.take_welcome() is not None,
            f"While {crowd} page requests kept every page thread busy, a WebSocket to room "
            f"{room}, which the server had not looked up yet, got no welcome: its questions to "
            "Django waited for a page thread. Give the pages "
            "a thread pool of their own (pages.py), and leave the reactor's pool, where "
            "deferToThread runs, to the chat.",
        )
        assert not [page for page in waiting if page.answer is not None], (
            "Some held pages were answered early, so this check proves nothing."
        )
    finally:
        held.released.set()
        await until(
            lambda: all(page.answer is not None for page in waiting),
            "Once let go, the held page requests were not all answered.",
        )
        browser.close_all()
        await maybeDeferred(page_threads.stopService)


def test_pages_from_other_sites_are_refused_on_both_ways_in(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    for origin in ("http://localhost", "http://127.0.0.1"):
        own = f"{origin}:{site.port('django')}"
        assert handshake_status(room_url(site, room), origin=own, timeout=waits.MAX_WAIT) == 101
    for stranger in ("http://evil.example", f"http://127.0.0.1:{site.port('django') + 1}"):
        status = handshake_status(room_url(site, room), origin=stranger, timeout=waits.MAX_WAIT)
        assert 400 <= status < 500, (
            f"A WebSocket from a page on {stranger} was answered {status}; only the site's own "
            "pages may open one (CHAT_ALLOWED_ORIGINS)."
        )
        posted = LongPollClient(site.url("chatserver", ""), room, origin=stranger, timeout=5)
        refused = posted.send("not from our pages")
        assert refused.status == 403 and refused.json().get("code") == "forbidden_origin", (
            f"A POST from a page on {stranger} was answered {refused.status} {refused.body!r}, "
            "not 403 forbidden_origin (origins.py)."
        )
        assert refused.headers.get("Access-Control-Allow-Origin") is None


def test_the_long_poll_api_has_no_cors_any_more(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    url = site.url("chatserver", f"/rooms/{new_room()}/messages")
    answer = http.request(url, headers={"Origin": django_origin(site), **site.credentials()})
    assert answer.status == 200
    cors = [name for name in answer.headers if name.lower().startswith("access-control-")]
    assert not cors, f"The page and the API share one origin now; {cors} are not needed."
    preflight = http.request(url, method="OPTIONS", headers={"Origin": django_origin(site)})
    assert preflight.status == 405, (
        f"OPTIONS answered {preflight.status}; with no cross-origin POSTs left, it is a method "
        "like any other the API does not take (405)."
    )


# -- servers of their own -------------------------------------------------------------------


def test_static_files_can_come_from_collectstatic(site_with: SiteWith, tmp_path: Path) -> None:
    collected = tmp_path / "static-root"
    settings = {"DJANGO_STATIC_ROOT": str(collected)}
    with site_with(tmp_path / "site", settings) as deployed:
        deployed.manage("collectstatic", "--noinput", env=settings)
        # Files are listed when the process starts: start it again to see the collected ones.
        deployed.stop_process("django")
        (collected / "chat" / "room.js").write_text("// the collected copy\n")
        deployed.start_process("django")
        answer = http.request(deployed.url("django", "/static/chat/room.js"))
    assert answer.status == 200 and answer.body == b"// the collected copy\n", (
        f"With DJANGO_STATIC_ROOT set, /static/chat/room.js answered {answer.status} "
        f"{answer.body[:60]!r}, not the file collectstatic put in STATIC_ROOT."
    )
    assert "max-age" in (answer.headers.get("Cache-Control") or ""), (
        "Collected files do not change until the next collectstatic: let browsers keep them "
        "(Cache-Control: max-age=...)."
    )


def test_sigterm_answers_the_polls_says_goodbye_and_exits_0(
    site_with: SiteWith, tmp_path: Path
) -> None:
    with site_with(tmp_path, {}) as stopping:
        room, elsewhere = stopping.new_room(), stopping.new_room()
        messages = f"/rooms/{room}/messages"
        headers = {"Origin": django_origin(stopping), **stopping.credentials()}
        with (
            closing(HTTPConnection(stopping.host, stopping.port("chatserver"), timeout=30)) as poll,
            joined(stopping, elsewhere) as chat,
        ):
            poll.request("GET", messages, headers=headers)
            cursor = json.loads(poll.getresponse().read())["cursor"]
            poll.request("GET", f"{messages}?after={cursor}", headers=headers)  # it waits
            for number in (1, 2):  # the server has read the poll by the time these come back
                chat.send_json({"text": f"before the stop {number}"})
                chat.receive(f"chat message {number} back")
            # Where polls need a login, the server asks Django whose this one is, in a
            # thread: one more question of the same kind, answered, means it has asked.
            after = http.request(stopping.url("chatserver", messages), headers=headers)
            assert after.status == 200
            exit_code = stopping.stop_process("chatserver", signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    chat.receive("the server's close frame")
            answer = poll.getresponse()
            polled = json.loads(answer.read())
        log = stopping.log_text("chatserver")
    # twistd ends by raising the signal that stopped it again, so that whoever started it can
    # tell: -15 after its shutdown is a clean stop (systemd counts it as one); -9 means it had
    # to be killed, because something (a thread pool nobody stopped?) kept it from exiting.
    assert exit_code in (0, -signal.SIGTERM) and "Server Shut Down." in log, (
        f"After SIGTERM the process ended with {exit_code}, not within a few seconds of its "
        f"own accord after twistd's shutdown. Its log:\n{log[-2000:]}"
    )
    received = closed.value.rcvd
    assert received is not None and received.code == 1001, (
        f"The WebSocket was closed with {received}, not 1001 (going away). Say goodbye to "
        "every client when the service stops (stopping.py)."
    )
    assert answer.status == 200 and polled.get("messages") == [], (
        f"The poll waiting when the server stopped was answered {answer.status} {polled}; an "
        "empty answer tells the page to ask again (LongPollService)."
    )
    assert "Traceback" not in log, f"Stopping left a traceback in the log:\n{log[-2000:]}"


def test_a_page_being_made_when_sigterm_comes_is_still_sent(
    site_with: SiteWith, tmp_path: Path
) -> None:
    with (
        site_with(tmp_path, {}) as stopping,
        closing(HTTPConnection(stopping.host, stopping.port("django"), timeout=30)) as first,
        closing(HTTPConnection(stopping.host, stopping.port("django"), timeout=30)) as page,
        joined(stopping, stopping.new_room()) as chat,
    ):
        first.request("GET", "/chats/", headers=stopping.credentials())
        first.getresponse().read()
        # The page asked for below comes on a connection of its own: on the first one,
        # twisted.web reads a next request only once the last is finished, which a busy
        # machine may put off until after SIGTERM, when the page threads take no more work.
        with stopping.database_locked():
            page.request("GET", "/chats/", headers=stopping.credentials())  # Django waits
            # An answer that needs no database: once it is back, so is the page request.
            chat.send_json({"text": ""})
            chat.receive("the error for an empty message")
            stopper = threading.Thread(
                target=stopping.stop_process, args=("django", signal.SIGTERM)
            )
            stopper.start()
            waits.wait_for(
                lambda: "Received SIGTERM" in stopping.log_text("django"),
                "the process to receive SIGTERM",
            )
        try:
            answer = page.getresponse()  # the database is free again: Django goes on
            status, body = answer.status, answer.read()
        except (ConnectionError, HTTPException) as problem:
            status, body = None, repr(problem).encode()
        stopper.join(2 * STOP_TIMEOUT)  # stop_process ends it, killing it if need be
        # Root cause first: a process that had to be killed cut the page off itself.
        assert not stopping.had_to_kill, stopping.had_to_kill[0]
        stopping.had_to_kill.clear()  # said here, not again when the site stops
        log = tail(stopping.log_text("django"))
    assert status == 200 and b"</html>" in body, (
        f"A page Django was still making when SIGTERM came was answered {status} {body[:80]!r}. "
        "twistd must wait for the page threads to finish their work before it exits: "
        "ThreadPoolService.stopService returns a Deferred that fires once the pool has stopped. "
        f"The server's last lines:\n{log}"
    )


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A key and a certificate for localhost and 127.0.0.1, as a test CA would issue."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_file, certificate_file = folder / "key.pem", folder / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, certificate_file


def test_an_ssl_endpoint_serves_https_and_wss_by_itself(
    site_with: SiteWith, tmp_path: Path
) -> None:
    key, certificate = self_signed_certificate(tmp_path)
    trusted = ssl.create_default_context(cafile=certificate)
    with site_with(tmp_path / "site", {}) as secure:
        room = secure.new_room()
        port = secure.port("django")
        secure.stop_process("django")
        listen = f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={certificate}"
        secure.launch_process("django", {"CHAT_LISTEN": listen})
        url = f"https://127.0.0.1:{port}/chats/{room}/"

        def page_over_https() -> bytes | None:
            if secure.pid("django") is None:
                raise StageError(f"The process stopped before it served {url}")
            logged_in = urllib.request.Request(url, headers=secure.credentials())
            try:
                with urllib.request.urlopen(logged_in, context=trusted, timeout=2) as answer:
                    return answer.read()
            except OSError:
                return None  # not listening yet

        try:
            page = waits.wait_for(
                page_over_https,
                f"The room page at {url} never came (CHAT_LISTEN={listen})",
                timeout=max(waits.MAX_WAIT, READY_TIMEOUT),
            )
        except (AssertionError, StageError) as problem:
            raise AssertionError(
                f"{problem}. The server's last lines:\n{tail(secure.log_text('django'))}"
            ) from None
        assert b'id="message_list"' in page
        try:
            # The first handshake of a new process does one-time work (its first session
            # and room lookups in threads): as long as starting may take.
            with chat_connection(
                f"wss://127.0.0.1:{port}/ws/{room}",
                origin=f"https://localhost:{port}",
                timeout=max(waits.MAX_WAIT, READY_TIMEOUT),
                ssl=trusted,
                headers=secure.credentials(),
            ) as chat:
                welcome = chat.receive("the welcome over wss://")
        except (TimeoutError, OSError, InvalidHandshake) as problem:
            raise AssertionError(
                f"The page came over https://, but the WebSocket at wss://127.0.0.1:"
                f"{port}/ws/{room} was not opened ({problem!r}). The server's last lines:\n"
                f"{tail(secure.log_text('django'))}"
            ) from None
    assert welcome.get("type") == "welcome", (
        f"Over wss:// the first message was {welcome}, not the welcome. With an ssl: endpoint "
        "the default allowed origins are https://localhost:<port> and https://127.0.0.1:<port>."
    )


# -- a real browser -------------------------------------------------------------------------


def test_two_windows_chat_through_the_one_process(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    alice = chat_page.open_window(browsers, site, f"/chats/{room}/")
    bob = chat_page.open_window(browsers, site, f"/chats/long_poll/{room}/")
    urls = alice.execute_script(
        "const page = window.chatRoomPage;"
        'return [page.serverUrl("wss:", "ws:"), page.serverUrl("https:", "http:")];'
    )
    own = f"{site.host}:{site.port('django')}"
    assert urls == [f"ws://{own}", f"http://{own}"], (
        f"The page would talk to {urls}; it should talk to where it came from ({own})."
    )
    chat_page.send(alice, "one process, one port")
    chat_page.wait_for_message(bob, "one process, one port", "Bob never got Alice's message.")
    chat_page.send(bob, "and one origin")
    chat_page.wait_for_message(alice, "and one origin", "Alice never got Bob's answer.")
