"""The long-poll API: the chat over plain HTTP, for clients that cannot keep a WebSocket open.

    GET     /rooms/<id>/messages?after=<cursor>   messages after message id <cursor>
    POST    /rooms/<id>/messages                  say {"text": "..."} in the room

Both need a logged-in person: the browser sends the session cookie, and Django says whose it
is (people.py). A POST must also carry the page's CSRF token in an X-CSRFToken header.
Anyone else is answered 403, with the code logged_out or csrf_failed.

A client remembers the id of the last message it has seen, its cursor, and asks for what
came after it. When something has, the answer comes at once. When nothing has, render
returns NOT_DONE_YET and the request waits ("parks") in its Room until the room's next
message arrives, CHAT_POLL_TIMEOUT passes (then it is answered with no messages, and the
client asks again), the server stops, its person logs out, or the client goes away.
"""

import re

from twisted.application import service
from twisted.internet import task
from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from chatserver import messages, origins
from chatserver.answers import answer, answer_encoded, refuse
from chatserver.messages import Rejected
from chatserver.people import cookie_of, headers_of
from chatserver.rooms import MESSAGES_PATH, room_id_from_path

log = Logger()

CURSOR = re.compile(rb"[0-9]{1,18}")
"""A message id, or 0 for "before the first message": digits only, as many as a room id."""

ALLOWED_METHODS = b"GET, POST"

RETRY_WHEN_FULL = 5
"""Seconds a poll turned away from a room with CHAT_MAX_PARKED polls waiting should wait."""

TOO_MANY_REQUESTS = 429  # twisted.web.http has no name for it

ANSWERS_KEPT = 10
"""Encoded answers a room keeps between two messages, one per cursor. A crowd asks with one
or two cursors; the cap stops a client that asks with many from filling the memory."""


class RoomMessages(Resource):
    """/rooms/<id>/messages: read a room's messages by long-polling, and post to it."""

    isLeaf = True  # it reads the room id from the whole path, as the WebSocket side does

    def __init__(self, factory):
        super().__init__()
        self.factory = factory

    def render(self, request):
        """Check which page is asking, and about which room, then do what the method says.

        Resource.render would pick render_GET and so on by itself, but it answers a method
        it does not know with an HTML page, and every answer here is JSON. Each branch
        answers now or later, so there is never anything to return but NOT_DONE_YET.
        """
        config = self.factory.config
        room_id = room_id_from_path(request.path.decode("latin-1"), MESSAGES_PATH)
        if not origins.from_allowed_page(request, config.allowed_origins):
            refuse(
                request,
                http.FORBIDDEN,
                "forbidden_origin",
                "Pages from this origin may not use this chat server.",
            )
        elif room_id is None:
            refuse(request, http.NOT_FOUND, "no_such_room", "There is no such room.")
        elif request.method == b"GET":
            self.poll(request, room_id)
        elif request.method == b"POST":
            self.post(request, room_id)
        else:
            request.setHeader(b"allow", ALLOWED_METHODS)
            refuse(
                request,
                http.NOT_ALLOWED,
                "method_not_allowed",
                "This address takes GET (to read messages) and POST (to send one).",
            )
        return NOT_DONE_YET

    # -- reading: GET ---------------------------------------------------------------------

    def poll(self, request, room_id):
        after = request.args.get(b"after")
        if after is not None and (len(after) != 1 or not CURSOR.fullmatch(after[0])):
            refuse(
                request,
                http.BAD_REQUEST,
                "invalid_cursor",
                "after must be the id of the last message you have seen: a whole number, "
                "0 if you have seen none. Leave it out to start from now.",
            )
            return
        cursor = None if after is None else int(after[0])
        self.as_person(request, False, self.with_room, room_id, self.poll_room, cursor)

    def poll_room(self, request, room, cursor):
        config = self.factory.config
        if cursor is None:
            # A newcomer starts from now, as a WebSocket client does when it connects.
            answer(request, http.OK, messages.poll_answer(room.id, [], room.last_id, False))
        elif cursor != room.last_id or self.factory.stopping:
            # Stopping: asking Django whose poll this is took a moment, and the waiting polls
            # have been answered meanwhile (LongPollService); this one must not wait either.
            answer_poll(request, room, cursor, config.poll_page)
        elif len(room.polls) >= config.max_parked:
            refuse(
                request,
                http.SERVICE_UNAVAILABLE,
                "too_many_waiting",
                f"{len(room.polls)} others are already waiting in this room; try again later.",
                retry_after=RETRY_WHEN_FULL,
            )
        else:
            ParkedPoll(request, room, cursor, config, self.factory.clock)

    # -- sending: POST ----------------------------------------------------------------------

    def post(self, request, room_id):
        # A body over CHAT_MAX_BYTES, or one sent in chunks, never gets this far: web.py
        # refused it before reading it.
        content_type = request.getHeader(b"content-type") or b""
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            refuse(
                request,
                http.UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                'Send the message as JSON, {"text": "..."}, with Content-Type: application/json.',
            )
            return
        if request.getHeader(b"content-length") is None:
            refuse(
                request,
                http.LENGTH_REQUIRED,
                "length_required",
                "Say how many bytes the message has, in a Content-Length header.",
            )
            return
        self.as_person(request, True, self.post_as_person, room_id)

    def post_as_person(self, request, room_id):
        # Every message with a readable body costs its person a token, valid or not, as over
        # WebSocket; a body refused for its type or size above was never read.
        config = self.factory.config
        wait = self.factory.senders.take(request.person.id, self.factory.clock.seconds())
        if wait:
            refuse(
                request,
                TOO_MANY_REQUESTS,
                "rate_limited",
                f"Too many messages; wait {wait} s.",
                retry_after=wait,
            )
            return
        try:
            text = messages.read_text(request.content.read(), config.max_length)
        except Rejected as refusal:
            refuse(request, http.BAD_REQUEST, refusal.code, refusal.detail)
            return
        self.with_room(request, room_id, self.post_in_room, text)

    def post_in_room(self, request, room, text):
        # The same broadcast as for WebSocket messages: the next id, the history, every
        # WebSocket client and every waiting poll in the room.
        answer(request, http.CREATED, self.factory.broadcast(room, request.person, text))

    # -- asking Django who is asking, and about the room ------------------------------------

    def as_person(self, request, posting, then, *arguments):
        """Call then(request, *arguments) once Django has said whose session the request
        carries, with request.person set (as Django sets request.user). Refused with 403 when
        no one is logged in, or when a POST (posting) lacks the page's CSRF token.

        A poll comes back after every message: when Django has vouched for its cookie lately,
        it goes straight on, as a room the server knows needs no question (with_room).
        """
        person = None if posting else self.factory.people.recent(cookie_of(request))
        if person is not None:
            self.person_found(person, request, then, arguments)
            return
        lookup = self.factory.people.find_person(headers_of(request), request.isSecure(), posting)
        request.notifyFinish().addErrback(lambda failure: lookup.cancel())
        lookup.addCallbacks(
            self.person_found,
            self.person_not_found,
            callbackArgs=(request, then, arguments),
            errbackArgs=(request,),
        )

    def person_found(self, person, request, then, arguments):
        request.person = person
        then(request, *arguments)

    def person_not_found(self, failure, request):
        if failure.check(CancelledError):
            return  # the client went away while we asked
        if failure.check(Rejected):
            refuse(request, http.FORBIDDEN, failure.value.code, failure.value.detail)
            return
        log.failure("could not read a session", failure)
        refuse(
            request,
            http.SERVICE_UNAVAILABLE,
            "sessions_unavailable",
            "The chat server cannot read sessions right now; try again in a moment.",
        )

    def with_room(self, request, room_id, then, argument):
        """Call then(request, room, argument) once the room is found; 404 if there is none.

        While Django is asked, the client may go away; then the question is cancelled and
        nothing more happens. A room the server knows already needs no question at all.
        """
        room = self.factory.rooms.get(room_id)
        if room is not None:
            then(request, room, argument)
            return
        lookup = self.factory.find_room(room_id)
        request.notifyFinish().addErrback(lambda failure: lookup.cancel())
        lookup.addCallbacks(
            self.room_found,
            self.room_lookup_failed,
            callbackArgs=(request, then, argument),
            errbackArgs=(request,),
        )

    def room_found(self, room, request, then, argument):
        if room is None:
            refuse(request, http.NOT_FOUND, "no_such_room", "There is no such room.")
        else:
            then(request, room, argument)

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


def answer_poll(request, room, cursor, page_size):
    """Answer a poll with the messages after its cursor: at most page_size, oldest first.

    Until the room's next message, every poll with the same cursor gets the same answer, so
    the room keeps the answers it has encoded, by cursor. The polls that one message wakes
    mostly share a cursor (they had all seen the message before it), and so do the polls
    that come back just after it: a thousand of them cost one encoding, not a thousand.
    """
    body = room.answers.get(cursor)
    if body is None:
        found, missed = room.messages_after(cursor, page_size)
        # The client asks next from the last message it got. With none to give, that is the
        # room's last id: the cursor itself, except after a restart, when the cursor is an
        # id the room has not reached yet, and asking with it again would only repeat this.
        next_cursor = found[-1]["id"] if found else room.last_id
        body = messages.encode(messages.poll_answer(room.id, found, next_cursor, missed))
        if len(room.answers) < ANSWERS_KEPT:
            room.answers[cursor] = body
    answer_encoded(request, http.OK, body)


class ParkedPoll:
    """A poll waiting in its room for the next message.

    Whatever comes first ends the wait: a message (the factory's broadcast calls answer),
    the timeout or the server stopping (both answer it with no messages, so the client
    asks again), or the client going away (then it is only forgotten). Each removes the
    poll from its room, so no poll is answered twice or left behind.
    """

    def __init__(self, request, room, cursor, config, clock):
        self.request = request
        self.person = request.person  # whose poll it is: logging out ends it
        self.room = room
        self.cursor = cursor
        self.page_size = config.poll_page
        self.timeout = clock.callLater(config.poll_timeout, self.answer)
        request.notifyFinish().addErrback(self.client_gone)
        room.polls.add(self)

    def answer(self):
        self.forget()
        answer_poll(self.request, self.room, self.cursor, self.page_size)

    def refuse(self, refusal):
        """End the wait with an error instead, such as LoggedOut when its person logs out."""
        self.forget()
        refuse(self.request, http.FORBIDDEN, refusal.code, refusal.detail)

    def client_gone(self, failure):
        self.forget()

    def forget(self):
        self.room.polls.discard(self)
        if self.timeout.active():  # not when it is the timeout that is answering
            self.timeout.cancel()


class LongPollService(service.Service):
    """Answers every waiting poll when the chat server stops, rather than cutting it off.

    twistd stops an application's services before the reactor closes what connections are
    left. A browser whose poll is cut off sees a network error; an empty answer only tells
    it to ask again.
    """

    def __init__(self, factory):
        self.factory = factory

    def stopService(self):
        super().stopService()
        self.factory.stopping = True
        for room in self.factory.rooms.values():
            room.answer_polls()
        # The answers go out on the reactor's next turn. Waiting for that turn keeps the
        # reactor from closing the connections before they have been written.
        return task.deferLater(self.factory.clock, 0, lambda: None)
