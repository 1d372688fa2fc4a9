"""The chat server: WebSockets on Twisted and Autobahn, one conversation per Django room.

    config.py     the settings, from environment variables
    rooms.py      rooms as the chat server sees them, and asking Django if one exists
    messages.py   the JSON messages clients and server exchange
    ratelimit.py  how often a connection may send
    protocol.py   one connection: handshake, messages, a client that stops reading
    factory.py    what all connections share: settings, rooms, broadcasting
    resource.py   the URLs: / and /ws/<room id>

chatserver.tac, next to this folder, puts them together for twistd.
"""
