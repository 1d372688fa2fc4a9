"""The chat protocol: Twisted makes one of these for every connected browser tab.

Autobahn does the WebSocket work: the handshake, framing, pings, closing. This class says
what the chat does at each step: which connections to let in, what to tell a newcomer,
what to do with each message, and what to do about a client that stops reading.
"""

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from chatserver import messages
from chatserver.messages import Rejected
from chatserver.ratelimit import TokenBucket
from chatserver.rooms import room_id_from_path

log = Logger()


@implementer(IPushProducer)
class ChatServerProtocol(WebSocketServerProtocol):
    room_id = None  # the room asked for, once we know it exists
    room = None  # the Room this client is in, from onOpen until it leaves
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
        find_room asks Django only about a room the server does not know yet, once.
        """
        room_id = room_id_from_path(request.path)
        if room_id is None:
            log.info("refused {peer}: {path!r} is not a room", peer=self.peer, path=request.path)
            raise ConnectionDeny(ConnectionDeny.NOT_FOUND, "No such room")
        lookup = self.factory.find_room(room_id)
        lookup.addCallbacks(self.room_checked, self.room_lookup_failed, callbackArgs=(room_id,))
        return lookup

    def room_checked(self, room, room_id):
        if self.state == self.STATE_CLOSED:
            # The client went away while we were asking; it must not join the room.
            raise ConnectionDeny(ConnectionDeny.REQUEST_TIMEOUT, "Gone")
        if room is None:
            log.info("refused {peer}: there is no room {room}", peer=self.peer, room=room_id)
            raise ConnectionDeny(ConnectionDeny.NOT_FOUND, "No such room")
        self.room_id = room_id
        return None  # accept the connection, with no subprotocol

    def room_lookup_failed(self, failure):
        log.failure("could not look up a room for {peer}", failure, peer=self.peer)
        raise ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Rooms cannot be looked up")

    # -- an open connection ---------------------------------------------------------------

    def onOpen(self):
        config = self.factory.config
        self.room = self.factory.join(self, self.room_id)
        self.bucket = TokenBucket(config.rate, config.burst, self.factory.clock.seconds())
        self.send_json(messages.welcome(self.room.id, config))

    def onMessage(self, payload, isBinary):
        if self.room is None:
            return  # we are dropping this client; it will not hear anything more
        try:
            self.spend_token()
            if isBinary:
                raise Rejected(
                    "binary_not_supported", "Send text frames holding JSON, not binary frames."
                )
            text = messages.read_text(payload, self.factory.config.max_length)
        except Rejected as refusal:
            self.send_json(refusal.as_message())
            return
        self.factory.broadcast(self.room, text)

    def spend_token(self):
        """Every message costs a token, valid or not, so bad input cannot flood us either."""
        wait = self.bucket.take(self.factory.clock.seconds())
        if wait:
            raise Rejected("rate_limited", f"Too many messages; wait {wait} s.", retry_after=wait)

    def send_json(self, message):
        self.sendMessage(messages.encode(message))

    def onClose(self, wasClean, code, reason):
        if self.room is not None:
            self.leave_room()

    def leave_room(self):
        self.factory.leave(self, self.room)
        self.room = None

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

    def deliver(self, prepared):
        """Send a broadcast to this client, unless it has fallen too far behind to catch up.

        While the transport is paused, what we send waits in memory. One client that never
        reads must not make the server hold an ever-growing pile for it, so past
        CHAT_MAX_BUFFER bytes we let it go; everyone else in the room carries on.
        """
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
