"""The chat server's factory: the settings and the state all its connections share.

Twisted makes a new protocol instance for every connection, so whatever two connections
both need to see (who is in which room, the next message id) lives here, in the factory
that made them.
"""

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from chatserver import messages
from chatserver.people import KnownSessions, LoggedOut, find_person
from chatserver.protocol import ChatServerProtocol
from chatserver.ratelimit import BucketsByPerson
from chatserver.rooms import Room, room_exists_in_database


class ChatServerFactory(WebSocketServerFactory):
    protocol = ChatServerProtocol

    def __init__(
        self, config, room_exists=room_exists_in_database, find_person=find_person, clock=None
    ):
        super().__init__()
        if clock is None:
            from twisted.internet import reactor as clock
        self.config = config
        self.room_exists = room_exists  # room id -> Deferred[bool]; the tests pass a fake
        self.clock = clock  # where "now" comes from; the tests pass a task.Clock
        # Whose session a request carries: find_person asks Django, (headers, secure,
        # posting) -> Deferred[Person], and the tests pass a fake; people keeps its answers.
        self.people = KnownSessions(find_person, config.session_recheck, clock)
        self.rooms = {}  # room id -> Room, for every room someone has joined
        self.lookups = {}  # room id -> the Deferreds waiting while Django is asked about it
        # One bucket per person, whether they chat over WebSockets, POSTs, or both.
        self.senders = BucketsByPerson(config.rate, config.burst)
        self.stopping = False  # set when twistd stops: from then on, no poll waits
        self.setProtocolOptions(
            # A browser sends the page's origin with every WebSocket handshake. Only pages
            # from our Django site may connect, so no other site can chat in its visitors'
            # names. A client that sends no Origin at all is a program, not a browser, and
            # is let in: the check protects people's browsers, it does not identify anyone.
            allowedOrigins=list(config.allowed_origins),
            allowNullOrigin=False,  # "null" comes from sandboxed frames and local files
            # Autobahn accepts messages of any size unless told a limit.
            maxMessagePayloadSize=config.max_bytes,
            maxFramePayloadSize=config.max_bytes,
            # Tell the client why we close (1009 "message too big", say) with a WebSocket
            # close frame, rather than just cutting the TCP connection.
            failByDrop=False,
            # Ping quiet clients, and drop those that no longer answer (a laptop lid shut).
            autoPingInterval=config.ping_interval,
            autoPingTimeout=config.ping_timeout,
            # A plain HTTP request to /ws/... gets a bare status line, nothing more:
            # "426 HTTP Upgrade header missing" (426 is Upgrade Required; the words are
            # Autobahn's).
            webStatus=False,
        )
        # Compression (permessage-deflate) stays off: Autobahn accepts a client's offer only
        # through perMessageCompressionAccept, which we never set. Compressed sizes leak
        # secrets sent next to attacker-chosen text (the BREACH family of attacks), and
        # Autobahn before 26.7.1 applied the size limit to the compressed bytes, so a small
        # frame could inflate to gigabytes (GHSA-hxp9-w8x3-p566).

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
        """Put a client in a room; the Room is made when its first client arrives."""
        room = self.room(room_id)
        room.clients.add(client)
        return room

    def leave(self, client, room):
        # The Room itself stays, so message ids keep going up when people come back.
        room.clients.discard(client)

    def broadcast(self, room, author, text):
        """Send a line of chat to everyone in the room, its sender included, and return it.

        Messages from WebSocket and from HTTP both come through here, so both kinds of
        client see the same messages with the same ids, in the same order. author is the
        sender's Person, as their session says; never anything the client wrote.
        """
        sent = messages.timestamp(self.clock.seconds())
        message = messages.chat_message(room.next_message_id(), room.id, author.name, text, sent)
        room.history.append(message)
        # Frame the message once; every client then sends the very same bytes.
        prepared = self.prepareMessage(messages.encode(message))
        for client in list(room.clients):  # a copy: a slow reader may leave during the loop
            client.deliver(prepared)
        room.answer_polls()
        return message

    def session_ended(self, session_key):
        """Someone logged out, in some tab: every WebSocket and waiting poll of that login
        ends now, and is told why, so each page can say so at once."""
        self.people.forget(session_key)
        for room in self.rooms.values():
            for client in list(room.clients):
                if client.person.session_key == session_key:
                    client.logged_out()
            for poll in list(room.polls):
                if poll.person.session_key == session_key:
                    poll.refuse(LoggedOut())
