"""The twisted.web Site of this one process, and the Request it makes for every HTTP request.

twisted.web reads a request's whole body, into memory or a temporary file, before any
resource sees the request, so a client could send gigabytes only to be told afterwards
that a chat message is 1000 characters at most. The HTTP channel calls gotLength on the
request as soon as the headers are in, with the body's Content-Length (None for a body
sent in chunks, whose length nobody knows in advance): the one moment to refuse a body
without reading it. No address takes a body bigger than CHAT_MAX_BYTES, Django's included:
its forms here (the admin's) are small, and the Request cannot yet tell which address the
body is for.

The Site also writes a line for each page, file and refusal to twistd's log, in the
"combined" format web servers share: the client's address, the time, the request, status
and size (see ChatSite.log).
"""

from twisted.logger import Logger
from twisted.web import http, server

from chatserver.answers import write_json
from chatserver.messages import Rejected
from chatserver.resource import root_resource

log = Logger()


class ChatRequest(server.Request):
    """A Request that refuses a body the chat server will not take, before reading any of it."""

    person = None  # who sent it, once the long-poll API has asked Django (people.py)

    def gotLength(self, length):
        max_bytes = self.channel.site.config.max_bytes
        if length is None:
            self.refuse_body(
                http.LENGTH_REQUIRED,
                "length_required",
                "Send the body in one piece, with a Content-Length header, not in chunks.",
            )
        elif length > max_bytes:
            self.refuse_body(
                http.REQUEST_ENTITY_TOO_LARGE,
                "too_large",
                f"The body has {length} bytes; the most allowed is {max_bytes}.",
            )
        else:
            super().gotLength(length)

    def refuse_body(self, status, code, detail):
        """Answer at once and close the connection, leaving the body unread.

        twisted.web hands the request line to the Request only once the body is in, so
        we answer in HTTP/1.1 ourselves, as twisted.web does for a request it cannot parse.
        Closing stops the reading: whatever else the client sends is never looked at.
        """
        log.info(
            "refused a request body from {peer}: {detail}",
            peer=self.getClientAddress().host,
            detail=detail,
        )
        # Otherwise the channel would go on to tell a client that sent "Expect:
        # 100-continue" (curl does, for big bodies) to send its body after all.
        self.requestHeaders.removeHeader(b"expect")
        self.clientproto = b"HTTP/1.1"
        self.setHeader(b"connection", b"close")
        write_json(self, status, Rejected(code, detail).as_message())
        self.channel.loseConnection()

    def connectionLost(self, reason):
        """The client has gone: if it had been answered, log the request all the same.

        twisted.web logs a request when it is finished. A Django page is written from its
        thread, and finished a moment later, once Django has tidied up; a client that has
        read the whole page (its Content-Length says when) often hangs up in between. Without
        this, those pages would be missing from the log.
        """
        answered = self.startedWriting and not self.finished
        site = self.channel.site if answered else None  # the channel is gone afterwards
        super().connectionLost(reason)
        if answered:
            site.log(self)


class ChatSite(server.Site):
    """The Site twistd serves: the chat, the static files and Django, with a ChatRequest for
    every request."""

    requestFactory = ChatRequest

    def __init__(self, factory, pages, static_files, **kwargs):
        super().__init__(root_resource(factory, pages, static_files), **kwargs)
        self.config = factory.config  # where ChatRequest finds CHAT_MAX_BYTES

    def log(self, request):
        """Write the access log line of every page, file and refusal, but not of a poll
        answered well (status below 400).

        twisted.web logs every request it answers. Nearly all of ours are long-polls, and a
        busy room answers thousands a second: a line for each says nothing, and writing them
        took about a fifth of the server's time under the workbook's bench.
        """
        if request.code >= 400 or not request.path.startswith(b"/rooms/"):
            super().log(request)
