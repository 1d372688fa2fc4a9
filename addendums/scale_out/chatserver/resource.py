"""What each URL on this one port answers.

    /ws/<id>              the WebSocket endpoint for room <id>
    /rooms/<id>/messages  the long-poll API for room <id> (longpoll.py)
    /static/...           Django's static files (static.py)
    anything else         Django: the rooms, the admin, its 404 page

Autobahn's WSGIRootResource does the sharing out: a twisted.web resource that hands every
path it has no child for to Django, whole, so that Django sees the URL the browser asked for.
"""

from autobahn.twisted.resource import WebSocketResource, WSGIRootResource

from chatserver.longpoll import RoomMessages


def root_resource(factory, pages, static_files):
    """The tree of resources: the chat at /ws/ and /rooms/, static files, Django (pages)."""
    return WSGIRootResource(
        pages,
        {
            # WebSocketResource is a leaf: it gets /ws/3 and everything after /ws, and hands
            # the connection to a protocol from the factory, whose onConnect reads the room id.
            b"ws": WebSocketResource(factory),
            # Also a leaf: it reads the room id from the path, by the same rules as /ws/.
            b"rooms": RoomMessages(factory),
            # STATIC_URL in settings.py.
            b"static": static_files,
        },
    )
