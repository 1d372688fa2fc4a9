"""The chat protocol: Twisted makes one of these for every connected browser tab.

Autobahn does the WebSocket work: the handshake, framing, pings, closing. This class says
what the chat does at each step: which connections to let in, what to tell a newcomer,
what a client that comes back has missed, what to do with each message, and what to do
about a client that stops reading.
"""

import re

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.logger import Logger
from zope.interface import implementer

from chatserver import messages
from chatserver.messages import Rejected
from chatserver.rooms import room_id_from_path

log = Logger()

AFTER = re.compile(r"[0-9]{1,18}")
"""/ws/<room>?after=<id>: the id of the last message the client has seen, digits only."""

CATCH_UP_PAGE = 500
"""The most messages read from the database at once for a client catching up."""

LOGGED_OUT_CLOSE = 4001
"""The close code that tells a page its person is logged out: never logged in, logged out in
some tab, or expired. Codes from 4000 are for applications to choose; the page shows
"You are logged out" with a link to log in again, and stops reconnecting."""


@implementer(IPushProducer)
class ChatServerProtocol(WebSocketServerProtocol):
    person = None  # who is speaking, from the session cookie of the handshake
    refusal = None  # why this connection may not chat (logged out), once we know
    found_room = None  # the Room asked for, once we know it exists
    after = None  # the id of the last message the client has seen (?after=), if it said
    room = None  # the Room this client is in, from onOpen until it leaves
    catching_up = False  # True while the messages it missed are read from the database
    sent_up_to = 0  # the id of the last message sent to it: it is never sent one twice
    paused = False  # True while the transport's send buffer is full
    held_back = 0  # bytes of broadcasts given to the transport since it paused

    def connectionMade(self):
        super().connectionMade()
        # A transport tells its producer when its send buffer fills up (pauseProducing) and
        # when it has drained (resumeProducing): that is how we notice a client that has
        # stopped reading. The HTTP channel that carried the handshake registered itself
        # as the producer; from here on the connection is ours, so we take its place.
        self.transport.unregisterProducer()
        self.transport.registerProducer(self, True)

    # -- the opening handshake ----------------------------------------------------------

    def onConnect(self, request):
        """Let in /ws/<id> if Django has room <id>; refuse anything else with a 404.

        Returning a Deferred makes Autobahn wait for it before it answers the handshake.
        First Django is asked who the session cookie belongs to, then which room this is;
        find_room asks Django only about a room the server does not know yet, once.
        """
        room_id = room_id_from_path(request.path)
        if room_id is None:
            log.info("refused {peer}: {path!r} is not a room", peer=self.peer, path=request.path)
            raise ConnectionDeny(ConnectionDeny.NOT_FOUND, "No such room")
        after = request.params.get("after")
        if after is not None:
            if len(after) != 1 or not AFTER.fullmatch(after[0]):
                raise ConnectionDeny(
                    ConnectionDeny.BAD_REQUEST, "after must be the id of a message, or 0"
                )
            self.after = int(after[0])
        secure = ISSLTransport.providedBy(self.transport)
        lookup = self.factory.people.find_person(request.headers, secure, False)
        lookup.addCallbacks(self.person_found, self.person_not_found)
        lookup.addCallback(self.look_up_room, room_id)
        lookup.addCallbacks(self.room_checked, self.room_lookup_failed, callbackArgs=(room_id,))
        return lookup

    def person_found(self, person):
        self.person = person

    def look_up_room(self, _, room_id):
        return self.factory.find_room(room_id)

    def person_not_found(self, failure):
        """Logged out: let the handshake finish, so that onOpen can say so with a close code
        the page can read. A refused handshake would reach the page as a bare 1006."""
        if not failure.check(Rejected):
            log.failure("could not look up a session for {peer}", failure, peer=self.peer)
            raise ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Sessions cannot be read")
        self.refusal = failure.value

    def room_checked(self, room, room_id):
        if self.state == self.STATE_CLOSED:
            # The client went away while we were asking; it must not join the room.
            raise ConnectionDeny(ConnectionDeny.REQUEST_TIMEOUT, "Gone")
        if room is None:
            log.info("refused {peer}: there is no room {room}", peer=self.peer, room=room_id)
            raise ConnectionDeny(ConnectionDeny.NOT_FOUND, "No such room")
        self.found_room = room
        return None  # accept the connection, with no subprotocol

    def room_lookup_failed(self, failure):
        log.failure("could not look up a room for {peer}", failure, peer=self.peer)
        raise ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Rooms cannot be looked up")

    # -- an open connection ---------------------------------------------------------------

    def onOpen(self):
        if self.refusal is not None:
            log.info("{peer} is not logged in; told so", peer=self.peer)
            self.sendClose(LOGGED_OUT_CLOSE, self.refusal.detail)
            return
        config = self.factory.config
        self.room = self.factory.join(self, self.found_room)
        self.send_json(messages.welcome(self.room.id, config))
        if self.after is None:
            self.sent_up_to = self.room.last_id  # a newcomer starts from now
        else:
            self.catch_up(self.after)

    # -- coming back: the messages after ?after= -------------------------------------------

    def catch_up(self, cursor):
        """Send every message after id `cursor`, oldest first, then the live ones.

        The room's memory holds the latest messages: when it reaches back to the cursor,
        they are sent at once and the client is live, with no gap and nothing twice, since
        nothing else happens on the reactor meanwhile. Further back, the database is asked,
        a page at a time. While it answers, new messages go on being broadcast; this client
        is passed over (catching_up), and gets them from the memory at the end instead.
        """
        if self.room.reaches_back_to(cursor):
            for message in self.room.messages_after(cursor):
                self.send_json(message)
            self.sent_up_to = self.room.last_id
            self.catching_up = False
            return
        self.catching_up = True
        asking = self.factory.store.after(self.room.id, cursor, CATCH_UP_PAGE)
        asking.addCallbacks(
            self.caught_up_from_database, self.catch_up_failed, callbackArgs=(cursor,)
        )

    def caught_up_from_database(self, found, cursor):
        if self.room is None:
            return  # it left while the database was asked
        found_messages, last_id = found
        if cursor > last_id:
            # No message of this room ever had that id: the client's page came from another
            # database. All it can have is what comes from now on.
            self.sent_up_to = self.room.last_id
            self.catching_up = False
            return
        first = found_messages[0]["id"] if found_messages else last_id + 1
        if first > cursor + 1:
            # The oldest messages it has not seen are gone (prune_messages): say so.
            self.send_json(messages.missed(cursor + 1, first - 1))
        for message in found_messages:
            self.send_json(message)
        if found_messages:
            cursor = found_messages[-1]["id"]
        if len(found_messages) < CATCH_UP_PAGE and cursor >= self.room.last_id:
            # Stored, and perhaps not broadcast here yet: it goes live from the cursor.
            self.sent_up_to = cursor
            self.catching_up = False
        else:
            self.catch_up(cursor)

    def catch_up_failed(self, failure):
        log.failure("could not read the messages {peer} missed", failure, peer=self.peer)
        if self.room is not None:
            # It reconnects, and asks again, as after any other break.
            self.leave_room()
            self.sendCloseFrame(
                code=self.CLOSE_STATUS_CODE_INTERNAL_ERROR,
                reasonUtf8=b"The messages you missed cannot be read just now.",
            )

    # -- what the client says ---------------------------------------------------------------

    def onMessage(self, payload, isBinary):
        if self.room is None:
            return  # we are dropping this client; it will not hear anything more
        # Every message costs a token of its person, valid or not, so bad input cannot flood
        # us either, nor more tabs. The bucket is in Redis, so the answer comes later (a
        # Deferred); the answers come in the order asked, so messages keep their order.
        now = self.factory.clock.seconds()
        taking = maybeDeferred(self.factory.senders.take, self.person.id, now)
        taking.addCallback(self.token_taken, payload, isBinary)

    def token_taken(self, wait, payload, isBinary):
        if self.room is None:
            return  # it left while Redis was asked
        said = refusal = None
        try:
            if isBinary:
                raise Rejected(
                    "binary_not_supported", "Send text frames holding JSON, not binary frames."
                )
            said = messages.read_message(payload, self.factory.config.max_length)
        except Rejected as problem:
            refusal = problem
        ref = said.ref if said is not None else refusal.extra.get("ref")
        if wait:
            refusal = Rejected(
                "rate_limited", f"Too many messages; wait {wait} s.", retry_after=wait
            )
        if refusal is not None:
            self.refuse(refusal, ref)
            return
        stored = self.factory.say(self.room, self.person, said)
        stored.addCallbacks(
            self.acknowledge, self.not_stored, callbackArgs=(said.ref,), errbackArgs=(said.ref,)
        )

    def acknowledge(self, outcome, ref):
        """The message is stored (and, if new, broadcast): tell its sender, by its ref."""
        message, _ = outcome
        if ref is not None and self.state == self.STATE_OPEN:
            self.send_json(messages.ack(ref, message["id"]))

    def not_stored(self, failure, ref):
        if not failure.check(Rejected):
            log.failure("could not store a message from {peer}", failure, peer=self.peer)
            return
        if self.state == self.STATE_OPEN:
            self.refuse(failure.value, ref)

    def refuse(self, refusal, ref):
        """Tell the sender why its message was not taken, naming the message by its ref."""
        self.send_json({**refusal.as_message(), **({} if ref is None else {"ref": ref})})

    def send_json(self, message):
        self.sendMessage(messages.encode(message))

    def onClose(self, wasClean, code, reason):
        if self.room is not None:
            self.leave_room()

    def leave_room(self):
        self.factory.leave(self, self.room)
        self.room = None

    def logged_out(self):
        """This connection's person logged out, in this tab or another: close at once."""
        self.leave_room()
        self.sendClose(LOGGED_OUT_CLOSE, "You logged out. Log in again to chat.")

    def going_away(self):
        """Close with 1001, "going away": the server is stopping, and the page may come back.

        Autobahn's sendClose takes only 1000 and the codes an application makes up (3000
        and over). 1001 is the one the WebSocket standard gives a server that is going
        down, so we send the close frame ourselves. Returns a Deferred that fires once the
        connection is closed: when the client has answered, or Autobahn has given up on it.
        """
        self.sendCloseFrame(
            code=self.CLOSE_STATUS_CODE_GOING_AWAY, reasonUtf8=b"The chat server is stopping."
        )
        return self.is_closed

    # -- keeping up with a slow reader (IPushProducer) --------------------------------------

    def pauseProducing(self):
        """The transport's send buffer is full: the client reads slower than we write.

        The transport says so again on every write while the buffer stays full, so this
        must not start the count afresh; only resumeProducing does that.
        """
        self.paused = True

    def resumeProducing(self):
        """The send buffer has drained: the client has caught up."""
        self.paused = False
        self.held_back = 0

    def stopProducing(self):
        """The connection is gone; onClose does the tidying up."""

    def deliver(self, prepared, message_id):
        """Send a broadcast to this client, unless it has it already or will get it from
        catch_up, or it has fallen too far behind to catch up.

        While the transport is paused, what we send waits in memory. One client that never
        reads must not make the server hold an ever-growing pile for it, so past
        CHAT_MAX_BUFFER bytes we let it go; everyone else in the room carries on.
        """
        if self.catching_up or message_id <= self.sent_up_to:
            return
        self.sent_up_to = message_id
        if self.paused:
            self.held_back += len(prepared.payloadHybi)  # the framed bytes, as written
            if self.held_back > self.factory.config.max_buffer:
                self.drop_slow_reader()
                return
        self.sendPreparedMessage(prepared)

    def drop_slow_reader(self):
        log.warn(
            "dropped {peer} from room {room}: it stopped reading with {size} bytes waiting",
            peer=self.peer,
            room=self.room.id,
            size=self.held_back,
        )
        self.leave_room()
        # abortConnection, not loseConnection: loseConnection would first try to send all
        # that is waiting, to a client that is not reading it.
        self.transport.abortConnection()
