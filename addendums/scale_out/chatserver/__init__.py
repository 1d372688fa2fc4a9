"""The chat server: WebSockets on Twisted and Autobahn, one conversation per Django room,
and the same conversations over HTTP long-polling for clients without WebSockets; and, in
the same process, Django's pages and static files. Run as many processes as you like:
PostgreSQL and Redis make them one chat.

    config.py     the settings, from environment variables
    rooms.py      rooms as the chat server sees them, and asking Django if one exists
    people.py     who is speaking: asking Django whose session a request carries
    messages.py   the JSON messages clients and server exchange
    store.py      the messages in Django's database: storing them, reading them back
    writer.py     group commit: storing messages a group at a time, in order
    ratelimit.py  how often a person may send
    sharedlimit.py  the same, one budget per person across every process, in Redis
    bus.py        Redis: what the processes tell each other, and hear
    protocol.py   one connection: handshake, catching up, messages, a slow reader
    factory.py    what all connections share: settings, rooms, storing and broadcasting
    longpoll.py   the long-poll API: reading and sending messages over plain HTTP
    answers.py    JSON answers and errors over HTTP
    origins.py    which web pages may use the long-poll API
    pages.py      Django's pages, on a thread pool of their own
    static.py     Django's static files
    stopping.py   storing what is on its way, then closing every WebSocket with 1001
    resource.py   the URLs: /ws/<room id>, /rooms/<room id>/messages, /static/, Django
    web.py        the Site, whose requests refuse oversized bodies before reading them

chatserver.tac, next to this folder, puts them together for twistd.
"""
