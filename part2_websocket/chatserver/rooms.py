"""Rooms, as the chat server sees them.

The rooms themselves live in Django's database: people create them in the admin. The chat
server only needs to know which room a connection asked for, whether Django has a room
with that id, and who is in each room right now.
"""

import re

from twisted.internet import threads

ROOM_PATH = re.compile(r"/ws/([0-9]{1,18})")
"""A WebSocket URL names its room by id, like Django's /chats/3/. Eighteen digits is far
more rooms than anyone will create, and keeps the id inside what a database integer holds."""


class Room:
    """One room's conversation: the clients connected to it and the last message id used."""

    def __init__(self, room_id):
        self.id = room_id
        self.clients = set()
        self.last_id = 0

    def next_message_id(self):
        """Ids start at 1 and go up by 1, so clients can put messages in order and spot gaps."""
        self.last_id += 1
        return self.last_id


def room_id_from_path(path):
    """The room id in a path such as /ws/3, or None if the path does not name a room."""
    match = ROOM_PATH.fullmatch(path)
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
