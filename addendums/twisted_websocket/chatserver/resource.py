"""What each URL on the chat server's port answers.

    /                     "chat server running": a quick way to see that the server is up
    /ws/<id>              the WebSocket endpoint for room <id>
    /rooms/<id>/messages  the long-poll API for room <id> (longpoll.py)
    anything else: 404 Not Found

Whatever starts the server (the test harness, say) can poll / to know when it is ready.
"""

from twisted.web.pages import notFound
from twisted.web.resource import Resource

from chatserver.handshake import ChatSocketResource
from chatserver.longpoll import RoomMessages


class Root(Resource):
    def getChild(self, name, request):
        """Called for any path not given with putChild: answer a plain 404 page."""
        return notFound()


class StatusPage(Resource):
    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"chat server running\n"


def root_resource(factory):
    """The tree of resources for a twisted.web Site, with the chat at /ws/ and /rooms/."""
    root = Root()
    root.putChild(b"", StatusPage())
    # ChatSocketResource is a leaf: it gets /ws/3 and everything after /ws, checks the
    # handshake, and lets twisted.web.websocket hand the connection to the factory.
    root.putChild(b"ws", ChatSocketResource(factory))
    # Also a leaf: it reads the room id from the path, by the same rules as /ws/.
    root.putChild(b"rooms", RoomMessages(factory))
    return root
