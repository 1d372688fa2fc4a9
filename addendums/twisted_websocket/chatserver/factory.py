"""The chat server's factory: the settings and the state all its connections share.

Twisted makes a new protocol instance for every connection, so whatever two connections
both need to see (who is in which room, the next message id) lives here, in the factory
that made them.
"""

from twisted.internet import task
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from chatserver import messages
from chatserver.protocol import ChatServerProtocol
from chatserver.ratelimit import BucketsByAddress
from chatserver.rooms import Room, room_exists_in_database, room_id_from_path


class ChatServerFactory:
    protocol = ChatServerProtocol

    def __init__(self, config, room_exists=room_exists_in_database, clock=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.config = config
        self.room_exists = room_exists  # room id -> Deferred[bool]; the tests pass a fake
        self.clock = clock  # where "now" comes from; the tests pass a task.Clock
        self.rooms = {}  # room id -> Room, for every room someone has joined
        self.connected = 0  # clients in a room, whichever room
        # One timer pings every client, rather than a LoopingCall for each: a thousand of
        # those held some 1.1 KiB of every idle connection. Autobahn batches its clients'
        # ping timers in the same way. It runs while anyone is connected (see join, leave).
        self.keepalive = task.LoopingCall(self.ping_clients)
        self.keepalive.clock = clock
        self.lookups = {}  # room id -> the Deferreds waiting while Django is asked about it
        # WebSocket clients each have a bucket on their connection; HTTP clients connect
        # anew for every message, so theirs are kept here, by address.
        self.http_senders = BucketsByAddress(config.rate, config.burst)
        # twisted.web.websocket takes no options: no origins, sizes or pings to set here.
        # handshake.py checks origins, the protocol enforces the rest. Compression
        # (permessage-deflate) stays off because the module never agrees to it.

    def buildProtocol(self, request):
        """A protocol for a handshake that handshake.py let in; twisted.web.websocket asks."""
        room_id = room_id_from_path(request.path.decode("latin-1"))
        return self.protocol(self, request, room_id)

    def room(self, room_id):
        """The Room for a room that Django has; it is made the first time someone asks."""
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(room_id, self.config.history)
        return room

    def find_room(self, room_id):
        """A Deferred that fires with the Room, or with None if Django has no such room.

        Rooms are only made for ids Django has, so a room we already have needs no lookup.
        And while Django is being asked about a room, whoever else asks about it waits for
        the same answer: a crowd arriving in a new room costs one query, not one each.
        """
        if room_id in self.rooms:
            return succeed(self.rooms[room_id])
        answer = Deferred()
        waiting = self.lookups.setdefault(room_id, [])
        waiting.append(answer)
        if len(waiting) == 1:  # the first to ask: the only one who asks Django
            self.room_exists(room_id).addBoth(self.room_looked_up, room_id)
        return answer

    def room_looked_up(self, exists, room_id):
        """Give Django's answer about a room to everyone waiting for it."""
        for answer in self.lookups.pop(room_id):
            if answer.called:
                continue  # cancelled: whoever asked has gone away
            if isinstance(exists, Failure):
                answer.errback(exists)
            else:
                answer.callback(self.room(room_id) if exists else None)

    def join(self, client, room_id):
        """Put a client in a room; the Room is made when its first client arrives.

        The first client to connect starts the pings, so a client is pinged at most one
        CHAT_PING_INTERVAL after it joins.
        """
        room = self.room(room_id)
        room.clients.add(client)
        self.connected += 1
        if not self.keepalive.running:
            self.keepalive.start(self.config.ping_interval, now=False)
        return room

    def leave(self, client, room):
        """Take a client out of its room; the last to leave stops the pings.

        A server with nobody connected has no timer running.
        """
        # The Room itself stays, so message ids keep going up when people come back.
        room.clients.discard(client)
        self.connected -= 1
        if self.connected == 0:
            self.keepalive.stop()

    def ping_clients(self):
        """Every CHAT_PING_INTERVAL seconds: ping every client, to notice who has gone.

        The rooms know who is in them. A set of every client, kept beside theirs, held
        ~100 bytes of every idle connection.
        """
        for room in self.rooms.values():
            for client in list(room.clients):  # a copy: a client that cannot be pinged leaves
                client.ping()

    def broadcast(self, room, text):
        """Send a line of chat to everyone in the room, its sender included, and return it.

        Messages from WebSocket and from HTTP both come through here, so both kinds of
        client see the same messages with the same ids, in the same order.
        """
        sent = messages.timestamp(self.clock.seconds())
        message = messages.chat_message(room.next_message_id(), room.id, text, sent)
        room.history.append(message)
        # Encode the message once. twisted.web.websocket then frames it for each client
        # (Autobahn's prepareMessage framed it once for them all).
        text = messages.encode(message).decode("utf-8")
        for client in list(room.clients):  # a copy: a slow reader may leave during the loop
            client.deliver(text)
        room.answer_polls()
        return message
