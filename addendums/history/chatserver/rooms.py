"""Rooms, as the chat server sees them.

The rooms themselves live in Django's database: people create them in the admin, and every
message said in one is stored there too (store.py). The chat server needs to know which
room a connection asked for, whether Django has a room with that id, who is in each room
right now, and the latest messages, which it keeps in memory as well, so that a client
catching up after a short absence needs no query.
"""

import re
from collections import deque

from twisted.internet import threads

ROOM_PATH = re.compile(r"/ws/([0-9]{1,18})")
"""A WebSocket URL names its room by id, like Django's /chats/3/. Eighteen digits is far
more rooms than anyone will create, and keeps the id inside what a database integer holds."""

MESSAGES_PATH = re.compile(r"/rooms/([0-9]{1,18})/messages")
"""The long-poll URL of a room: the same ids as /ws/, by the same rules."""


class Room:
    """One room's conversation: who is in it, the last message id, the latest messages.

    The database gives each message its id (store.py); the Room learns of it once the
    message is stored, and only then do clients see it. It starts from what the database
    holds, so after a restart ids carry on where they were.

    The latest messages (the history, at most history_size of them) stay in memory for
    clients to catch up from: long-polls, and WebSockets that come back after a break.
    Further back than that, the database is asked.
    """

    def __init__(self, room_id, history_size, last_id=0, latest=()):
        self.id = room_id
        self.clients = set()
        self.last_id = last_id
        # A deque with a maxlen forgets its oldest message when a new one arrives, so a
        # busy room never holds more than history_size of them in memory.
        self.history = deque(latest, maxlen=history_size)
        self.polls = set()  # the long-polls waiting for this room's next message
        # Poll answers encoded since the last message, by cursor: every poll with the
        # same cursor gets the same bytes until the next message (see answer_poll).
        self.answers = {}

    def add(self, message):
        """A message has been stored: it is the room's newest now."""
        self.last_id = message["id"]
        self.history.append(message)
        self.answers.clear()  # encoded before this message: out of date

    def reaches_back_to(self, cursor):
        """Whether the memory holds every message after message id `cursor`."""
        oldest = self.history[0]["id"] if self.history else self.last_id + 1
        return oldest - 1 <= cursor <= self.last_id

    def messages_after(self, cursor, page_size=None):
        """The messages newer than message id `cursor` that are in memory, oldest first, at
        most page_size of them. Ask reaches_back_to first: further back, ask the database.
        """
        newer = [message for message in self.history if message["id"] > cursor]
        return newer if page_size is None else newer[:page_size]

    def answer_polls(self, even_empty=False):
        """Answer every long-poll waiting in the room that has something new to hear; with
        even_empty, the others too (with no messages), as when the server stops.

        A poll may wait with a cursor the room has not reached yet: a message the page
        already showed, stored but not yet broadcast here. It waits on for what follows.
        Each different answer is encoded once and its bytes shared (see answer_poll).
        """
        for poll in list(self.polls):  # a copy: each answered poll leaves the set
            if even_empty or poll.cursor < self.last_id:
                poll.answer()


def room_id_from_path(path, pattern=ROOM_PATH):
    """The room id in a path such as /ws/3, or None if the path does not name a room.

    Pass MESSAGES_PATH to read paths such as /rooms/3/messages instead.
    """
    match = pattern.fullmatch(path)
    if match is None:
        return None
    room_id = int(match.group(1))
    return room_id if room_id > 0 else None


def room_exists_in_database(room_id):
    """Ask Django whether the room exists. Returns a Deferred that fires with True or False.

    The query runs in a thread from the reactor's pool: the database may take a moment
    to answer, and while the reactor waited no other client would hear anything.
    """
    return threads.deferToThread(ask_django, room_id)


def ask_django(room_id):
    # Imported here, not at the top of the file, so that this package can be imported
    # (by the tests, say) without Django being set up. chatserver.tac sets it up first.
    from django.db import close_old_connections

    from chat.models import ChatRoom

    # Outside Django's request cycle nobody tidies this thread's database connection,
    # so we do what a request would: drop it if it has gone stale.
    close_old_connections()
    return ChatRoom.objects.filter(pk=room_id).exists()
