"""The opening handshake: which pages may open a WebSocket, and into which room.

twisted.web.websocket's WebSocketResource answers a well-formed handshake at once, with
101 Switching Protocols: it has no allow-list of origins, and no way to wait for the
database or to refuse with a status of our own. So the checks come first, in this
subclass, and only a handshake that passes them reaches the module. A refusal is a JSON
error with a 4xx or 5xx status, as the long-poll API gives.
"""

from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.web import http
from twisted.web.server import NOT_DONE_YET
from twisted.web.websocket import WebSocketResource

from chatserver import cors
from chatserver.answers import refuse
from chatserver.rooms import room_id_from_path

log = Logger()

UPGRADE_REQUIRED = 426  # twisted.web.http has no name for it


class ChatSocketResource(WebSocketResource):
    """/ws/<id>: checks a handshake, then lets twisted.web.websocket answer it."""

    isLeaf = True  # it gets /ws/3 and everything after /ws, and reads the room id itself

    def render_GET(self, request):
        config = self.factory.config
        room_id = room_id_from_path(request.path.decode("latin-1"))
        origin = request.getHeader(b"origin")
        if (request.getHeader(b"upgrade") or b"").lower() != b"websocket":
            request.setHeader(b"upgrade", b"websocket")
            refuse(
                request,
                UPGRADE_REQUIRED,
                "upgrade_required",
                "This address takes WebSocket connections only: open it with new WebSocket().",
            )
        elif origin is not None and cors.comparable(origin) not in config.allowed_origins:
            # The same rule as for the long-poll API: None ("null") is on no list.
            log.info("refused a page from {origin!r}", origin=origin)
            refuse(
                request,
                http.FORBIDDEN,
                "forbidden_origin",
                "Pages from this origin may not use this chat server.",
            )
        elif room_id is None:
            refuse(request, http.NOT_FOUND, "no_such_room", "There is no such room.")
        else:
            lookup = self.factory.find_room(room_id)
            if not lookup.called:
                # Until the 101 goes out the connection is still HTTP's, so notifyFinish
                # fails if the client goes away while Django is asked; then nobody joins
                # the room. A room the server knows is found at once, with nothing to
                # wait for; and the module never finishes the request, so from the 101 on
                # the Deferred that notifyFinish returns is of no use to anyone.
                request.notifyFinish().addErrback(lambda failure: lookup.cancel())
            lookup.addCallbacks(
                self.room_found,
                self.room_lookup_failed,
                callbackArgs=(request,),
                errbackArgs=(request,),
            )
        return NOT_DONE_YET

    def room_found(self, room, request):
        if room is None:
            log.info("refused a socket: there is no room {path}", path=request.path)
            refuse(request, http.NOT_FOUND, "no_such_room", "There is no such room.")
            return
        # The module checks the rest (the key, the version), answers 101, and asks the
        # factory's buildProtocol for the protocol that will take the connection.
        answer = super().render_GET(request)
        if answer is not NOT_DONE_YET:  # a malformed handshake: a 400 and a line of text
            request.write(answer)
            request.finish()
            return
        # The connection is a WebSocket now, and this request will never be finished: it
        # is not HTTP's any more. But twisted.web keeps every request in its channel's list
        # until it is finished, so the request, its headers and its body file stayed with
        # the connection for as long as it lasted: ~2.8 KB of every idle connection.
        request.channel.requests.remove(request)

    def room_lookup_failed(self, failure, request):
        if failure.check(CancelledError):
            return  # the client went away while we asked
        log.failure("could not look up a room", failure)
        refuse(
            request,
            http.SERVICE_UNAVAILABLE,
            "rooms_unavailable",
            "The chat server cannot look rooms up right now; try again in a moment.",
        )
