"""The chat on python-socketio, as its documentation shows it: an ``AsyncServer`` wrapped in
``socketio.ASGIApp``, which uvicorn serves. A client joins its room on connecting, and a
"message" event goes to everyone in the room, the sender included.

The room is named in the handshake's query string (``?room=<name>``), so that the bench's
crowds, each in a room of their own, hear only each other, as on the other targets.
Everything else is the library's defaults: the Origin must be the server's own, long-polling
stays allowed (the bench's client asks for WebSocket at once), a ping every 25 s.

The bench sets the client manager through the environment:
    PEER_REDIS_URL  unset: rooms in this process's memory (``AsyncManager``); set:
                    ``AsyncRedisManager`` on that Redis, which every emit goes through, as
                    it does when several servers share the rooms
"""

import os
from urllib.parse import parse_qs

import socketio

redis_url = os.environ.get("PEER_REDIS_URL")
manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid, environ, auth):
    room = parse_qs(environ.get("QUERY_STRING", "")).get("room", ["chat"])[0]
    await sio.save_session(sid, {"room": room})
    await sio.enter_room(sid, room)


@sio.event
async def message(sid, data):
    session = await sio.get_session(sid)
    await sio.emit("message", data, room=session["room"])
