"""Rooms, as the chat server sees them.

The rooms themselves live in Django's database: people create them in the admin. The chat
server only needs to know which room a connection asked for, whether Django has a room
with that id, who is in each room right now, and what was said there lately.
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
    """One room's conversation: who is in it, the last message id used, the latest messages.

    WebSocket clients are connected all the time, so they hear every message as it is sent.
    A long-poll client is connected only while it asks, so the room keeps its latest
    messages (the history) for it to catch up from, and the polls waiting for the next one.
    """

    def __init__(self, room_id, history_size):
        self.id = room_id
        self.clients = set()
        self.last_id = 0
        # A deque with a maxlen forgets its oldest message when a new one arrives, so a
        # busy room never holds more than history_size of them.
        self.history = deque(maxlen=history_size)
        self.polls = set()  # the long-polls waiting for this room's next message
        # Poll answers encoded since the last message, by cursor: every poll with the
        # same cursor gets the same bytes until the next message (see answer_poll).
        self.answers = {}

    def next_message_id(self):
        """Ids start at 1 and go up by 1, so clients can put messages in order and spot gaps."""
        self.last_id += 1
        return self.last_id

    def messages_after(self, cursor, page_size):
        """Up to page_size messages newer than message id `cursor`, oldest first, and
        whether the client has missed some that the history no longer holds.
        """
        if cursor > self.last_id:
            # An id we have not used yet: the chat server has restarted since the client
            # saw it, and ids started again from 1. All we can offer is what we have.
            return list(self.history)[:page_size], True
        newer = [message for message in self.history if message["id"] > cursor]
        # Ids have no gaps, so last_id - cursor messages were sent since the cursor.
        missed = len(newer) < self.last_id - cursor
        return newer[:page_size], missed

    def answer_polls(self):
        """Answer every long-poll waiting in the room, with what is new for each.

        Called for every new message, so the answers encoded before it are out of date.
        """
        self.answers.clear()
        for poll in list(self.polls):  # a copy: each answered poll leaves the set
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
