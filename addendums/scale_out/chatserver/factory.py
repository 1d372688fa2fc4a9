"""The chat server's factory: the settings and the state all its connections share.

Twisted makes a new protocol instance for every connection, so whatever two connections
both need to see (who is in which room, the latest messages) lives here, in the factory
that made them. What must outlive the process, the messages and their ids, lives in the
database, where the factory's store and writer put it. What the other chat processes must
hear about, a message stored or a login ended, goes through Redis (bus.py).
"""

import json

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatserver import messages
from chatserver.bus import LOGOUTS, MESSAGES
from chatserver.people import KnownSessions, LoggedOut, find_person
from chatserver.protocol import ChatServerProtocol
from chatserver.ratelimit import BucketsByPerson
from chatserver.rooms import Room, room_exists_in_database
from chatserver.sharedlimit import SharedBuckets
from chatserver.store import MessageStore
from chatserver.writer import Writer

log = Logger()


class ChatServerFactory(WebSocketServerFactory):
    protocol = ChatServerProtocol

    def __init__(
        self,
        config,
        room_exists=room_exists_in_database,
        find_person=find_person,
        clock=None,
        store=None,
        bus=None,
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
        # The messages in the database (store.py); the tests pass a fake.
        self.store = MessageStore() if store is None else store
        # Messages go to the database a group at a time (writer.py).
        self.writer = Writer(self.store.save, config.write_batch)
        self.rooms = {}  # room id -> Room, for every room someone has joined
        self.lookups = {}  # room id -> the Deferreds waiting while Django is asked about it
        # room id -> what Redis brought for a room while it was being read from the database
        # (a read that may have begun before those messages were stored): see room_looked_up.
        self.heard_while_loading = {}
        # Redis (bus.py), shared with the other chat processes; None for a process alone,
        # as in the in-process checks.
        self.bus = bus
        if bus is not None:
            bus.listener = self  # heard, hearing_again
        # One bucket per person, whether they chat over WebSockets, POSTs, or both, and on
        # however many processes: in Redis (sharedlimit.py), whose take returns a Deferred.
        self.senders = BucketsByPerson(config.rate, config.burst)
        if bus is not None:
            self.senders = SharedBuckets(bus, self.senders)
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
            lookup = self.room_exists(room_id)
            lookup.addCallback(self.load_room, room_id)
            lookup.addBoth(self.room_looked_up, room_id)
        return answer

    def load_room(self, exists, room_id):
        """For a room Django has, read its last id and latest messages from the database."""
        if not exists:
            return None
        loading = self.store.latest(room_id, self.config.history)
        loading.addCallback(
            lambda found: Room(
                room_id,
                self.config.history,
                *found,
                store=self.store,
                deliver=self.broadcast,
                clock=self.clock,
            )
        )
        return loading

    def room_looked_up(self, room, room_id):
        """Give Django's answer about a room to everyone waiting for it."""
        if room is not None and not isinstance(room, Failure):
            room = self.rooms.setdefault(room_id, room)
        for answer in self.lookups.pop(room_id):
            if answer.called:
                continue  # cancelled: whoever asked has gone away
            if isinstance(room, Failure):
                answer.errback(room)
            else:
                answer.callback(room)
        # Now that everyone who asked is in the room, what Redis brought meanwhile goes
        # through arrive: a repeat if the read saw it, the next message if not.
        for message in self.heard_while_loading.pop(room_id, []):
            if room is not None and not isinstance(room, Failure):
                room.arrive(message)

    def join(self, client, room):
        """Put a client in a room it has found (find_room)."""
        room.clients.add(client)
        return room

    def leave(self, client, room):
        # The Room itself stays, with its latest messages, for whoever comes back.
        room.clients.discard(client)

    def say(self, room, author, said):
        """Store a line of chat, then send it to everyone in the room, its sender included.

        Messages from WebSocket and from HTTP both come through here, so both kinds of
        client see the same messages with the same ids, in the same order. author is the
        sender's Person, as their session says; never anything the client wrote. said is
        what they asked to say (messages.Said).

        Returns a Deferred that fires with (message, is_new) once the message is stored:
        is_new is False when the sender had sent this ref before, and then nobody is sent
        it again. It fails with Rejected if the message could not be stored.
        """
        draft = messages.Draft(room.id, author, said.text, self.clock.seconds(), said.ref)
        stored = self.writer.write(draft)
        stored.addCallback(self.stored, room)
        return stored

    def stored(self, outcome, room):
        message, is_new = outcome
        if is_new:
            # Here at once, without waiting for Redis: sooner, and it works while Redis is
            # away. When Redis brings it back, it is a repeat, and dropped.
            room.arrive(message)
            if self.bus is not None:
                self.bus.publish(MESSAGES, message)
        return outcome

    def broadcast(self, room, message):
        """Send a stored message to everyone in the room, and to its waiting polls.

        Only ever called by the room (Room.arrive), in id order, once the message is in the
        database: nobody can see a message that a crash could still take away.
        """
        # Frame the message once; every client then sends the very same bytes.
        prepared = self.prepareMessage(messages.encode(message))
        for client in list(room.clients):  # a copy: a slow reader may leave during the loop
            client.deliver(prepared, message["id"])
        room.answer_polls()

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

    def logged_out(self, session_key):
        """Someone logged out on this process: end that login here, then on the others."""
        self.session_ended(session_key)
        if self.bus is not None:
            self.bus.publish(LOGOUTS, session_key)

    # -- what the other processes say, through Redis (bus.py) -----------------------------

    def heard(self, channel, data):
        """A message on a Redis channel, from any chat process (this one too)."""
        try:
            said = json.loads(data)
            if channel == MESSAGES:
                room = self.rooms.get(said["room"])
                if room is not None:
                    room.arrive(said)
                elif said["room"] in self.lookups:  # being read from the database just now
                    self.heard_while_loading.setdefault(said["room"], []).append(said)
                # Otherwise nobody here has joined the room: nothing to do.
            elif channel == LOGOUTS:
                self.session_ended(said)
        except (ValueError, TypeError, KeyError) as problem:
            log.warn(
                "passed over {data!r} on {channel}: {problem}",
                data=data,
                channel=channel,
                problem=problem,
            )

    def hearing_again(self):
        """Redis is reached, at start or after an outage: whatever was said meanwhile is in
        the database, so every room this process holds reads what it missed."""
        for room in self.rooms.values():
            room.catch_up()
