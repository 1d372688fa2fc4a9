"""Which web pages may use the long-poll API: the browser's cross-origin rules (CORS).

The room pages come from the Django site, on another port: to a browser, another origin.
A page may read an answer from us only if the answer names the page's origin in an
Access-Control-Allow-Origin header. We name only the origins in CHAT_ALLOWED_ORIGINS, the
same ones the WebSocket side lets in, and never "*".

A page from any other origin is refused outright (403). The browser would hide our answer
from that page anyway, but a refusal also keeps its messages out of our rooms.

A request without an Origin header comes from a program, not from a page in a browser,
and is let in, as on the WebSocket side: the check protects people's browsers; it does
not identify anyone.
"""

from functools import lru_cache

from chatserver.config import ConfigError, normal_origin


def add_cors_headers(request, allowed_origins):
    """Add the headers that let a page from an allowed origin read our answer.

    Returns False when the request comes from a page whose origin is not allowed.
    """
    # Our answer depends on the Origin header, so a cache must keep one copy per origin.
    request.setHeader(b"vary", b"Origin")
    origin = request.getHeader(b"origin")
    if origin is None:
        return True
    if comparable(origin) not in allowed_origins:
        return False
    # The browser compares this with its own origin letter for letter: send it back as is.
    request.setHeader(b"access-control-allow-origin", origin)
    # A page may read only a few plain headers of a cross-origin answer unless told more;
    # Retry-After says how long to wait after a 429 or 503.
    request.setHeader(b"access-control-expose-headers", b"Retry-After")
    return True


@lru_cache(maxsize=64)
def comparable(origin):
    """An Origin header written as in the settings (scheme://host:port), or None.

    "null", which sandboxed frames and pages opened from files send, is not an origin.
    A page sends the same header with every poll, so the last 64 answers are remembered.
    """
    try:
        return normal_origin("Origin", origin.decode("latin-1"))
    except ConfigError:
        return None


def add_preflight_headers(request):
    """Answer the question a browser asks (OPTIONS) before it lets a page POST JSON to us."""
    request.setHeader(b"access-control-allow-methods", b"GET, POST, OPTIONS")
    request.setHeader(b"access-control-allow-headers", b"Content-Type")
    # The browser may remember the answer for 10 minutes instead of asking before each POST.
    request.setHeader(b"access-control-max-age", b"600")
