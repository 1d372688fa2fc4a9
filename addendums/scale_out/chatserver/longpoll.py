"""The long-poll API: the chat over plain HTTP, for clients that cannot keep a WebSocket open.

    GET     /rooms/<id>/messages?after=<cursor>   messages after message id <cursor>
    POST    /rooms/<id>/messages                  say {"text": "...", "ref": "..."} in the room

Both need a logged-in person: the browser sends the session cookie, and Django says whose it
is (people.py). A POST must also carry the page's CSRF token in an X-CSRFToken header.
Anyone else is answered 403, with the code logged_out or csrf_failed.

A client remembers the id of the last message it has seen, its cursor, and asks for what
came after it. When something has, the answer comes at once. When nothing has, render
returns NOT_DONE_YET and the request waits ("parks") in its Room until the room's next
message arrives, CHAT_POLL_TIMEOUT passes (then it is answered with no messages, and the
client asks again), the server stops, its person logs out, or the client goes away.

The latest messages come from the room's memory; a cursor further back than that is looked
up in the database, where every message is kept (as long as prune_messages leaves it). A
POST is answered once its message is stored: 201 with the message, or 200 with the message
stored before under the same ref, when the client sends one again.
"""

import re

from twisted.application import service
from twisted.internet import task
from twisted.internet.defer import CancelledError, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
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
            answer(request, http.OK, messages.poll_answer(room.id, [], room.last_id))
        elif cursor == room.last_id:
            self.park(request, room, cursor)
        elif room.reaches_back_to(cursor):
            answer_poll(request, room, cursor, config.poll_page)
        else:
            self.ask_database(request, room, cursor)

    def park(self, request, room, cursor):
        """Keep the poll waiting for the room's next message, if there is room for it."""
        config = self.factory.config
        if self.factory.stopping:
            # Asking Django whose poll this is took a moment, and the waiting polls have been
            # answered meanwhile (LongPollService); this one must not wait either.
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

    def ask_database(self, request, room, cursor):
        """A cursor the room's memory does not reach: older than its latest messages, or
        newer than the last it has broadcast (stored, and on the way)."""
        asking = self.factory.store.after(room.id, cursor, self.factory.config.poll_page)
        request.notifyFinish().addErrback(lambda failure: asking.cancel())
        asking.addCallbacks(
            self.read_from_database,
            self.database_failed,
            callbackArgs=(request, room, cursor),
            errbackArgs=(request,),
        )

    def read_from_database(self, found, request, room, cursor):
        found_messages, last_id = found
        config = self.factory.config
        if cursor > last_id:
            # No message of this room ever had that id: the page came from another database.
            # It gets what the room keeps in memory, and counts afresh from there.
            kept = room.messages_after(0, config.poll_page)
            detail = (
                f"This room has no message {cursor}; its newest is {last_id}. Here is what it has."
            )
            next_cursor = kept[-1]["id"] if kept else room.last_id
            answer(request, http.OK, messages.poll_answer(room.id, kept, next_cursor, detail))
            return
        first = found_messages[0]["id"] if found_messages else last_id + 1
        if first == cursor + 1 or (not found_messages and cursor == last_id):
            if not found_messages:
                self.park(request, room, cursor)  # stored already, broadcast in a moment
                return
            detail = None
        else:
            detail = messages.missed(cursor + 1, first - 1)["detail"]
        next_cursor = found_messages[-1]["id"] if found_messages else last_id
        answer(
            request,
            http.OK,
            messages.poll_answer(room.id, found_messages, next_cursor, detail),
        )

    def database_failed(self, failure, request):
        if failure.check(CancelledError):
            return  # the client went away while we asked
        log.failure("could not read messages", failure)
        refuse(
            request,
            http.SERVICE_UNAVAILABLE,
            "messages_unavailable",
            "The chat server cannot read this room's messages right now; try again in a moment.",
            retry_after=RETRY_WHEN_FULL,
        )

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
        # The bucket is in Redis: the answer comes later (sharedlimit.py).
        gone = []
        request.notifyFinish().addErrback(gone.append)
        now = self.factory.clock.seconds()
        taking = maybeDeferred(self.factory.senders.take, request.person.id, now)
        taking.addCallback(self.token_taken, request, room_id, gone)

    def token_taken(self, wait, request, room_id, gone):
        if gone:
            return  # the client went away while Redis was asked
        config = self.factory.config
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
            said = messages.read_message(request.content.read(), config.max_length)
        except Rejected as refusal:
            answer(request, http.BAD_REQUEST, refusal.as_message())
            return
        self.with_room(request, room_id, self.post_in_room, said)

    def post_in_room(self, request, room, said):
        # The same as for WebSocket messages: stored, then broadcast to every WebSocket
        # client and waiting poll in the room. The answer waits until it is stored.
        gone = []
        request.notifyFinish().addErrback(gone.append)
        stored = self.factory.say(room, request.person, said)
        stored.addCallbacks(
            self.posted, self.not_posted, callbackArgs=(request, gone), errbackArgs=(request, gone)
        )

    def posted(self, outcome, request, gone):
        message, is_new = outcome
        if not gone:  # a client that went away meanwhile sends it again, and gets a 200
            answer(request, http.CREATED if is_new else http.OK, message)

    def not_posted(self, failure, request, gone):
        if gone:
            return
        if not failure.check(Rejected):
            log.failure("could not store a message", failure)
            failure = Failure(Rejected("not_stored", "The message could not be stored."))
        refusal = failure.value
        # not_stored is for now (503: send it again later); the others are for good.
        status = {"no_such_room": http.NOT_FOUND, "cannot_store": http.BAD_REQUEST}.get(
            refusal.code, http.SERVICE_UNAVAILABLE
        )
        refuse(request, status, refusal.code, refusal.detail, **refusal.extra)

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
    """Answer a poll with the messages after its cursor in the room's memory: at most
    page_size, oldest first.

    Until the room's next message, every poll with the same cursor gets the same answer, so
    the room keeps the answers it has encoded, by cursor. The polls that one message wakes
    mostly share a cursor (they had all seen the message before it), and so do the polls
    that come back just after it: a thousand of them cost one encoding, not a thousand.
    """
    body = room.answers.get(cursor)
    if body is None:
        # A cursor the memory no longer reaches gets nothing, and the same cursor back: the
        # client asks again at once, and that poll goes to the database.
        found = room.messages_after(cursor, page_size) if room.reaches_back_to(cursor) else []
        # The client asks next from the last message it got, or from where it was.
        next_cursor = found[-1]["id"] if found else cursor
        body = messages.encode(messages.poll_answer(room.id, found, next_cursor))
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
            room.answer_polls(even_empty=True)
        # The answers go out on the reactor's next turn. Waiting for that turn keeps the
        # reactor from closing the connections before they have been written.
        return task.deferLater(self.factory.clock, 0, lambda: None)
