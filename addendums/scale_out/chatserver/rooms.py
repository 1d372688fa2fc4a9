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
from twisted.logger import Logger

log = Logger()

ROOM_PATH = re.compile(r"/ws/([0-9]{1,18})")
"""A WebSocket URL names its room by id, like Django's /chats/3/. Eighteen digits is far
more rooms than anyone will create, and keeps the id inside what a database integer holds."""

MESSAGES_PATH = re.compile(r"/rooms/([0-9]{1,18})/messages")
"""The long-poll URL of a room: the same ids as /ws/, by the same rules."""

FILL_PAGE = 500
"""The most messages read from the database at once to fill a gap."""

FILL_RETRY = 1
"""Seconds before the database is asked again for a gap it could not be read for."""


class Room:
    """One room's conversation: who is in it, the last message id, the latest messages.

    The database gives each message its id (store.py); the Room learns of it once the
    message is stored, and only then do clients see it. It starts from what the database
    holds, so after a restart ids carry on where they were.

    The latest messages (the history, at most history_size of them) stay in memory for
    clients to catch up from: long-polls, and WebSockets that come back after a break.
    Further back than that, the database is asked.
    """

    def __init__(self, room_id, history_size, last_id=0, latest=(), *, store, deliver, clock):
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
        # Messages come from every chat process, in any order (arrive): those that cannot
        # go out yet wait here, by id, while the ones before them are read from the store.
        self.store = store  # store.py's MessageStore, or a fake in the checks
        self.deliver = deliver  # (room, message) -> None: sends it to the room's clients
        self.clock = clock
        self.held = {}
        self.filling = False  # the store is being asked for what follows last_id
        self.read_again = False  # and must be asked again once it has answered
        self.fill_failures = 0  # how many times in a row it could not be asked

    def add(self, message):
        """A message has been stored: it is the room's newest now."""
        self.last_id = message["id"]
        self.history.append(message)
        self.answers.clear()  # encoded before this message: out of date

    def arrive(self, message):
        """A stored message has reached this process: from its own writer, at once, or from
        any process (this one too) through Redis, a moment later and perhaps out of order.

        Everyone in the room gets every message once, in id order, with no gap. A message
        with an id already delivered or held is a repeat: dropped. The next id goes out at
        once, with whatever was held behind it. A later id waits while the store is asked
        for the ones before it, once for the gap: they are stored already, because ids are
        handed out under the room's row lock, in the order their transactions commit.
        """
        message_id = message["id"]
        if message_id <= self.last_id or message_id in self.held:
            return
        self.held[message_id] = message
        self.send_in_order()

    def send_in_order(self):
        while self.last_id + 1 in self.held:
            message = self.held.pop(self.last_id + 1)
            self.add(message)
            self.deliver(self, message)
        if self.held and not self.filling:
            self.fill()  # a gap before the first held message

    def fill(self):
        """Read from the store what follows last_id: to fill a gap, or to catch up on what
        was said while this process could not hear it (Redis was away)."""
        self.filling = True
        self.read_again = False
        reading = self.store.after(self.id, self.last_id, FILL_PAGE)
        reading.addCallbacks(self.filled, self.not_filled)

    def filled(self, found):
        found_messages, stored_last_id = found
        if self.fill_failures:
            log.info("room {room}: its messages can be read again", room=self.id)
        self.fill_failures = 0
        for message in found_messages:
            if message["id"] > self.last_id:
                self.held.setdefault(message["id"], message)
        if self.last_id < stored_last_id and self.last_id + 1 not in self.held:
            # The store holds ids past ours, yet not the next one: pruned (prune_messages)
            # before we read it, so gone for good. Carry on from the first message there is.
            # A read that stopped at or below our last id says nothing of the next one: it
            # began before that was stored, and send_in_order asks again.
            kept = [message_id for message_id in self.held if message_id <= stored_last_id]
            self.last_id = min(kept, default=stored_last_id + 1) - 1
        self.filling = False
        self.send_in_order()
        if not self.filling and (self.read_again or stored_last_id > self.last_id):
            self.fill()  # more than one page behind, or asked to look again meanwhile

    def not_filled(self, failure):
        self.filling = False
        self.fill_failures += 1
        if self.fill_failures == 1:
            log.warn(
                "room {room}: cannot read its messages ({problem}); trying again every {delay} s",
                room=self.id,
                problem=failure.getErrorMessage(),
                delay=FILL_RETRY,
            )
        self.clock.callLater(FILL_RETRY, self.catch_up)

    def catch_up(self):
        """Read whatever was stored after last_id: after a read that failed, or when this
        process could not hear the others for a while (Redis was away)."""
        if self.filling:
            self.read_again = True  # the read under way may have begun too early
        else:
            self.fill()

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
