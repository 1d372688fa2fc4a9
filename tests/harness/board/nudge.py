"""Telling the board page that reports arrived: a line said in the board's chat room.

The board page follows that room with the stage's own room client (room.js and chat.js,
over a WebSocket that reconnects and resumes by itself), and fetches the board afresh
whenever a line arrives. So the board is live through the very chat the workshop builds,
and a line carries no data the page must trust: it only says "look again".

Lines are said by the board's own account through the chat server's HTTP API, the one the
long-poll page posts to, from a thread of their own. Reports that arrive while a line is
on its way are said together in the next one, so a room of forty reporting at once costs
a handful of lines, within the chat server's rate limit; when it says "wait", the thread
waits as long as it says, then says what is left.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.request

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db import close_old_connections

BOARD_ROOM = "Workshop board"
BOARD_ACCOUNT = "workshop-board"
"""The account that says the board room's lines; it has no password, so no one logs in as it."""
POST_TIMEOUT = 10.0
RETRY_AFTER = 1.0
"""Seconds to wait before trying again when the chat server did not say how long."""
LINE_LIMIT = 300


def board_room():
    """The chat room the board follows, made the first time it is needed."""
    from chat.models import ChatRoom

    room = ChatRoom.objects.filter(name=BOARD_ROOM).order_by("id").first()
    return room or ChatRoom.objects.create(name=BOARD_ROOM)


def board_session() -> str:
    """A logged-in session of the board's account, made as Django's login makes one."""
    from importlib import import_module

    user, made = get_user_model().objects.get_or_create(username=BOARD_ACCOUNT)
    if made:
        user.set_unusable_password()
        user.save()
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


class Nudger:
    def __init__(self) -> None:
        self._lines: list[tuple[str, str]] = []  # (who, what), waiting to be said
        self._lock = threading.Lock()
        self._waiting = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: str | None = None

    def nudge(self, who: str, line: str) -> None:
        """Have ``line``, from ``who``, said in the board room soon (with any others waiting)."""
        with self._lock:
            self._lines.append((who, line))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="board", daemon=True)
                self._thread.start()
        self._waiting.set()

    def _run(self) -> None:
        while True:
            self._waiting.wait()
            self._waiting.clear()
            with self._lock:
                lines, self._lines = self._lines, []
            if not lines:
                continue
            wait = self._say(together(lines))
            if wait:
                with self._lock:
                    self._lines[:0] = lines  # said with the next ones, after the wait
                threading.Event().wait(wait)
                self._waiting.set()

    def _say(self, text: str) -> float:
        """Say ``text`` in the board room; seconds to wait before saying it again, or 0."""
        close_old_connections()
        try:
            room = board_room()
            if self._session is None:
                self._session = board_session()
        except Exception as error:  # the database is busy or gone: try again in a moment
            print(f"board: cannot reach the database ({error})", flush=True)
            return RETRY_AFTER
        csrf = secrets.token_hex(16)  # 32 letters and digits, like Django's own secrets
        request = urllib.request.Request(
            f"{settings.WORKSHOP_SELF_URL}/rooms/{room.pk}/messages",
            data=json.dumps({"text": text, "ref": secrets.token_hex(16)}).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Cookie": f"sessionid={self._session}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT):
                return 0
        except urllib.error.HTTPError as refused:
            print(f"board: the chat server answered {refused.code} to {text!r}", flush=True)
            if refused.code == 403:
                self._session = None  # logged out by a reset, say: log in again
            elif refused.code not in (429, 503):
                return 0  # refused for good: saying it again cannot help
            retry = refused.headers.get("Retry-After", "")
            return float(retry) if retry.replace(".", "", 1).isdigit() else RETRY_AFTER
        except OSError as error:
            print(f"board: cannot reach the chat server ({error}); trying again", flush=True)
            return RETRY_AFTER


def together(lines: list[tuple[str, str]]) -> str:
    """One line for the reports waiting: the report itself, or who sent them."""
    who = ", ".join(name for name, _ in lines)
    text = lines[0][1] if len(lines) == 1 else f"{len(lines)} reports, from {who}"
    return text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…"


NUDGER = Nudger()
"""The process's one nudger: its thread starts with the first report."""
