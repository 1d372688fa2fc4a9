"""Who is speaking: the Django user behind a request, found from the cookies its browser sends.

A browser sends a page's cookies with every request to the page's site, a WebSocket
handshake included. Django's login put the session's key in one of them (sessionid); the
session, in the database, says which user it belongs to. So the chat server asks Django,
with the same functions Django's own middleware uses, and trusts nothing the client says
about itself.

Django's sessions and users live in the database, so the asking happens in a thread, as
for rooms, and the answer comes back as a Deferred. Every poll and every handshake carries
the cookie again, so KnownSessions keeps Django's answers for a few seconds.
"""

from dataclasses import dataclass
from io import BytesIO

from twisted.internet import threads
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from chatserver.messages import Rejected


class LoggedOut(Rejected):
    """No one is logged in on this request: never was, logged out, or expired."""

    def __init__(self):
        super().__init__("logged_out", "You are logged out. Log in again to chat.")


class BadCsrfToken(Rejected):
    """A POST without the token that only our own pages know."""

    def __init__(self):
        super().__init__(
            "csrf_failed", "This page's security token is missing or out of date. Reload the page."
        )


@dataclass(frozen=True)
class Person:
    """A logged-in user, as the chat server needs to know them."""

    id: int
    name: str
    session_key: str  # which login this is: logging out ends this one only


def find_person(headers, secure, posting):
    """A Deferred that fires with the Person whose session the request carries.

    headers: the request's headers, names in lower case. secure: it came over https.
    posting: it sends a message, so it must also carry the page's CSRF token.
    Fails with LoggedOut or BadCsrfToken (both Rejected) when the request may not chat.
    """
    return threads.deferToThread(ask_django, headers, secure, posting)


def ask_django(headers, secure, posting):
    # Imported here, as in rooms.py: this package can then be imported without Django.
    from django.contrib.auth import get_user
    from django.db import close_old_connections

    close_old_connections()
    request = django_request(headers, secure, "POST" if posting else "GET")
    # get_user reads the session, finds the user, and checks that the session is still one
    # the user's password allows and that the user may log in (is_active): as on every page.
    user = get_user(request)
    if not user.is_authenticated:
        raise LoggedOut()
    if posting and not passes_csrf_check(request):
        raise BadCsrfToken()
    return Person(user.pk, user.get_username(), request.session.session_key)


def django_request(headers, secure, method):
    """A Django request with the headers and cookies of the chat server's request."""
    from importlib import import_module

    from django.conf import settings
    from django.core.handlers.wsgi import WSGIRequest

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/",
        "wsgi.input": BytesIO(),
        "wsgi.url_scheme": "https" if secure else "http",
        "SERVER_NAME": "chatserver",
        "SERVER_PORT": "443" if secure else "80",
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    request = WSGIRequest(environ)
    sessions = import_module(settings.SESSION_ENGINE)
    request.session = sessions.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    return request


def passes_csrf_check(request):
    """Whether Django's CSRF middleware would let this POST through to a view.

    It checks that the X-CSRFToken header matches the csrftoken cookie (a page on another
    site can make the browser send our cookies, but cannot read them, so it cannot know the
    token) and that the Origin, when there is one, is this site's.
    """
    from django.core.exceptions import DisallowedHost
    from django.middleware.csrf import CsrfViewMiddleware

    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    try:
        return check.process_view(request, None, (), {}) is None
    except DisallowedHost:  # a Host header not in ALLOWED_HOSTS: no page of ours sent it
        return False


def headers_of(request):
    """A twisted.web request's headers as find_person takes them: {"cookie": "...", ...}."""
    return {
        name.decode("latin-1").lower(): ", ".join(value.decode("latin-1") for value in values)
        for name, values in request.requestHeaders.getAllRawHeaders()
    }


def cookie_of(request):
    """A twisted.web request's Cookie header as headers_of gives it, or None: all it takes to
    look a session up in KnownSessions."""
    values = request.requestHeaders.getRawHeaders(b"cookie")
    return None if values is None else ", ".join(value.decode("latin-1") for value in values)


class KnownSessions:
    """Whose session each cookie carries, as Django said lately: asked once, not every time.

    A long-polling page comes back after every message, and each time Django would be asked
    again, in a thread, with two queries: a thousand pollers would cost a thousand questions
    per message. So a person's answer is kept for CHAT_SESSION_RECHECK seconds, under the
    Cookie header it came from: the same header is the same session. While Django is being
    asked about a cookie, whoever else comes with it waits for the same answer, as with
    rooms (find_room). A logout in this process forgets the answer at once (forget); a
    change made elsewhere, such as a deactivation in another process's admin or a password
    changed with manage.py, counts once Django is asked again, within CHAT_SESSION_RECHECK
    seconds. A POST always asks: it needs the CSRF check. Refusals are not kept, so
    someone who has just logged in is let in at once.
    """

    def __init__(self, ask, recheck, clock):
        self.ask = ask  # find_person, or a fake in the tests
        self.recheck = recheck
        self.clock = clock
        # Cookie header -> (Person, when Django was asked), in the order the answers came:
        # remember moves an entry to the end, so forget_stale looks only at the front.
        self.known = {}
        self.asking = {}  # Cookie header -> the Deferreds waiting while Django is asked
        self.logouts = 0  # an answer asked for before a logout may be about that login

    def find_person(self, headers, secure, posting):
        """Like find_person: a Deferred that fires with the Person, or fails with a Rejected."""
        cookie = headers.get("cookie")
        if posting or cookie is None:
            return self.ask(headers, secure, posting)
        person = self.recent(cookie)
        if person is not None:
            return succeed(person)
        answer = Deferred()
        waiting = self.asking.setdefault(cookie, [])
        waiting.append(answer)
        if len(waiting) == 1:  # the first to ask: the only one who asks Django
            asked = self.clock.seconds()
            lookup = self.ask(headers, secure, posting)
            lookup.addBoth(self.answered, cookie, asked, self.logouts)
        return answer

    def recent(self, cookie):
        """The Person whose session the Cookie header `cookie` carries, if Django said so
        less than CHAT_SESSION_RECHECK seconds ago; None if it did not, or longer ago."""
        found = self.known.get(cookie)
        if found is None or self.clock.seconds() - found[1] >= self.recheck:
            return None
        return found[0]

    def answered(self, result, cookie, asked, logouts):
        """Give Django's answer to everyone waiting for it, and keep it if it is a yes that
        no logout since the question can have made out of date."""
        if not isinstance(result, Failure) and logouts == self.logouts:
            self.known.pop(cookie, None)
            self.known[cookie] = (result, asked)
            self.forget_stale()
        for answer in self.asking.pop(cookie):
            if answer.called:
                continue  # cancelled: whoever asked has gone away
            if isinstance(result, Failure):
                answer.errback(result)
            else:
                answer.callback(result)

    def forget_stale(self):
        """Drop the answers too old to use, so that the table holds only recent visitors."""
        now = self.clock.seconds()
        while self.known:
            oldest = next(iter(self.known))
            if now - self.known[oldest][1] < self.recheck:
                break
            del self.known[oldest]

    def forget(self, session_key):
        """A login has ended: its next request asks Django, and gets told it is logged out."""
        self.logouts += 1
        for cookie, (person, _) in list(self.known.items()):
            if person.session_key == session_key:
                del self.known[cookie]


def watch_logouts(factory, reactor):
    """Tell the factory whenever someone logs out, in any tab: Django's logout view sends the
    user_logged_out signal, in a page thread of this very process; the factory tells the
    other processes."""
    from django.contrib.auth.signals import user_logged_out

    def logged_out(sender, request, user, **kwargs):
        if request.session.session_key is not None:
            reactor.callFromThread(factory.logged_out, request.session.session_key)

    user_logged_out.connect(logged_out, weak=False)
