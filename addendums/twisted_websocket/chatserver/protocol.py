"""The chat protocol: the factory makes one of these for every connected browser tab.

twisted.web.websocket does the WebSocket work once handshake.py has let a client in: it
answers the handshake, frames what we send, answers pings and closing handshakes, and
hands us each message whole. What else a chat server needs, this class adds: a size limit
checked on the frames' headers (with frames.py), pings that notice a client that has
gone, a rate limit, and letting go of a client that stops reading.
"""

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from wsproto.utilities import LocalProtocolError
from zope.interface import implementer

from chatserver import messages
from chatserver.frames import FrameReader
from chatserver.messages import Rejected
from chatserver.ratelimit import TokenBucket

log = Logger()

MESSAGE_TOO_BIG = 1009
"""The close code for a message over CHAT_MAX_BYTES; browsers show it as event.code."""


@implementer(IPushProducer)
class ChatServerProtocol:
    def __init__(self, factory, request, room_id):
        self.factory = factory
        self.room_id = room_id  # handshake.py has made sure the room exists
        self.channel = request.channel  # the HTTP connection the handshake came on
        self.tcp = request.transport  # the TCP connection beneath it all
        # Every attribute is set here, those that start empty too. Python keeps one table
        # of attribute names for all the instances of a class, and each instance only its
        # values, but the table soon takes no new names: a name first set later, on a
        # thousand live connections (at the first ping, say), gave each one a dict of its
        # own, ~460 bytes.
        self.transport = None  # the module's WebSocketTransport, from negotiationStarted on
        self.room = None  # the Room this client is in, from negotiationFinished until it leaves
        self.bucket = None  # its TokenBucket, made at its first message (see spend_token)
        self.pong_due = None  # the timer that drops it if our last ping goes unanswered
        self.paused = False  # True while the TCP connection's send buffer is full
        self.held_back = 0  # bytes of broadcasts given to the transport since it paused

    def peer(self):
        """The client's address, for a log line.

        It is read when a line needs it, not kept: a string made at every handshake held
        ~60 bytes of every idle connection, for lines that most connections never write.
        """
        address = self.tcp.getPeer()
        return f"{address.host}:{address.port}"

    # -- the connection opens ---------------------------------------------------------------

    def negotiationStarted(self, transport):
        """The module has taken the connection over; nothing may be sent until the 101."""
        self.transport = transport
        # The TCP connection tells its producer when its send buffer fills up
        # (pauseProducing) and when it has drained (resumeProducing): that is how we
        # notice a client that has stopped reading. The HTTP channel that carried the
        # handshake is registered as the producer; the connection is ours now.
        transport.detachProducer()
        transport.attachProducer(self)
        # The module has pointed the channel's dataReceived at its own wire protocol,
        # which is the transport we were given; put a FrameReader in between, so that a
        # message too big is refused before it is gathered.
        reader = FrameReader(self.factory.config.max_bytes, transport, self)
        self.channel.dataReceived = reader.dataReceived

    def negotiationFinished(self):
        """The 101 answer has gone out: the client joins its room and is welcomed.

        Joining also puts it among the clients the factory pings (see factory.py).
        """
        self.room = self.factory.join(self, self.room_id)
        self.send_json(messages.welcome(self.room.id, self.factory.config))

    # -- messages ---------------------------------------------------------------------------

    def textMessageReceived(self, message):
        self.message_received(message)

    def bytesMessageReceived(self, data):
        self.message_received(None)  # refused below, once it has cost its token

    def message_received(self, message):
        if self.room is None:
            return  # we are letting this client go; it will not hear anything more
        try:
            self.spend_token()
            if message is None:
                raise Rejected(
                    "binary_not_supported", "Send text frames holding JSON, not binary frames."
                )
            # read_text reads bytes, as the long-poll API receives them.
            text = messages.read_text(message.encode("utf-8"), self.factory.config.max_length)
        except Rejected as refusal:
            self.send_json(refusal.as_message())
            return
        self.factory.broadcast(self.room, text)

    def spend_token(self):
        """Every message costs a token, valid or not, so bad input cannot flood us either.

        The bucket is made at the first message, full, as it would be by then anyway:
        most people in a room only read, and a bucket made at the join held ~120 bytes
        of every idle connection.
        """
        now = self.factory.clock.seconds()
        if self.bucket is None:
            config = self.factory.config
            self.bucket = TokenBucket(config.rate, config.burst, now)
        wait = self.bucket.take(now)
        if wait:
            raise Rejected("rate_limited", f"Too many messages; wait {wait} s.", retry_after=wait)

    def send_json(self, message):
        self.send_text(messages.encode(message).decode("utf-8"))

    def send_text(self, text):
        try:
            self.transport.sendTextMessage(text)
        except LocalProtocolError:
            self.closing()

    def closing(self):
        """The connection is closing, and the module did not say so: it tells us only
        when the connection is gone. Until then, wsproto refuses to send anything (it
        raises LocalProtocolError), so the client leaves its room now."""
        self.stop_pinging()
        if self.room is not None:
            self.leave_room()

    # -- closing ------------------------------------------------------------------------------

    def message_too_big(self, size):
        """The FrameReader saw a message grow past CHAT_MAX_BYTES: close with 1009."""
        max_bytes = self.factory.config.max_bytes
        log.info("{peer} sent a message of {size} bytes; closing", peer=self.peer(), size=size)
        self.closing()
        try:
            self.transport.loseConnection(
                MESSAGE_TOO_BIG, f"Message too big: the most is {max_bytes} bytes."
            )
        except LocalProtocolError:
            self.tcp.loseConnection()  # it was closing already

    def connectionLost(self, reason):
        self.stop_pinging()
        if self.room is not None:
            self.leave_room()

    def leave_room(self):
        self.factory.leave(self, self.room)
        self.room = None

    # -- keep-alive pings -----------------------------------------------------------------

    def ping(self):
        """Are you still there? The factory asks every client, every CHAT_PING_INTERVAL."""
        if self.pong_due is not None:
            return  # still waiting for the answer to the last one
        try:
            self.transport.ping(b"")
        except LocalProtocolError:
            self.closing()
            return
        timeout = self.factory.config.ping_timeout
        self.pong_due = self.factory.clock.callLater(timeout, self.pong_missing)

    def pongReceived(self, payload):
        """Any pong will do: a client that answers at all is still there."""
        if self.pong_due is not None:
            self.pong_due.cancel()
            self.pong_due = None

    def pong_missing(self):
        """No pong for CHAT_PING_TIMEOUT seconds: the client has gone (a laptop lid shut).

        A close frame would wait for an answer that will not come, so the TCP connection
        is cut, as Autobahn does when its auto-ping times out.
        """
        self.pong_due = None
        log.info("{peer} did not answer a ping; dropping it", peer=self.peer())
        self.closing()
        self.tcp.abortConnection()

    def stop_pinging(self):
        """No pong can come now; the factory stops pinging the client once it leaves."""
        if self.pong_due is not None:
            self.pong_due.cancel()
            self.pong_due = None

    # -- keeping up with a slow reader (IPushProducer) --------------------------------------

    def pauseProducing(self):
        """The send buffer is full: the client reads slower than we write.

        The transport says so again on every write while the buffer stays full, so this
        must not start the count afresh; only resumeProducing does that.
        """
        self.paused = True

    def resumeProducing(self):
        """The send buffer has drained: the client has caught up."""
        self.paused = False
        self.held_back = 0

    def stopProducing(self):
        """The connection is gone; connectionLost does the tidying up."""

    def deliver(self, text):
        """Send a broadcast to this client, unless it has fallen too far behind to catch up.

        While the transport is paused, what we send waits in memory. One client that never
        reads must not make the server hold an ever-growing pile for it, so past
        CHAT_MAX_BUFFER bytes we let it go; everyone else in the room carries on.
        """
        if self.paused:
            self.held_back += len(text.encode("utf-8"))
            if self.held_back > self.factory.config.max_buffer:
                self.drop_slow_reader()
                return
        self.send_text(text)

    def drop_slow_reader(self):
        log.warn(
            "dropped {peer} from room {room}: it stopped reading with {size} bytes waiting",
            peer=self.peer(),
            room=self.room.id,
            size=self.held_back,
        )
        self.closing()
        # abortConnection, not loseConnection: loseConnection would first try to send all
        # that is waiting, to a client that is not reading it.
        self.tcp.abortConnection()
