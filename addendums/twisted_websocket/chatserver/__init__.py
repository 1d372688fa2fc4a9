"""The chat server: WebSockets on Twisted's own twisted.web.websocket, one conversation per
Django room, and the same conversations over HTTP long-polling for clients without WebSockets.

    config.py     the settings, from environment variables
    rooms.py      rooms as the chat server sees them, and asking Django if one exists
    messages.py   the JSON messages clients and server exchange
    ratelimit.py  how often a connection (or an HTTP client's address) may send
    handshake.py  which pages may open a WebSocket, and into which room
    frames.py     reading frame headers, to refuse a message too big before it arrives
    protocol.py   one connection: messages, pings, a client that stops reading
    factory.py    what all connections share: settings, rooms, broadcasting
    longpoll.py   the long-poll API: reading and sending messages over plain HTTP
    answers.py    JSON answers and errors over HTTP
    cors.py       which web pages may use the long-poll API
    resource.py   the URLs: /, /ws/<room id> and /rooms/<room id>/messages
    web.py        the Site, whose requests refuse oversized bodies before reading them

chatserver.tac, next to this folder, puts them together for twistd.
"""
