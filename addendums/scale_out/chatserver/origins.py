"""Which web pages may chat here: pages of this site, and no other (the origin check).

The pages, the WebSockets and the long-polls all come from this one process now: to a
browser, one origin. The cross-origin rules (CORS) that part 3 needed, the
Access-Control-* headers and the OPTIONS question before a POST, are gone; the browser lets
a page read answers from its own origin anyway.

What stays is the refusal. A browser sends the page's origin with every WebSocket handshake
and every POST, whichever site the page came from. A page from another site could
otherwise chat here in the names of the people who visit it, so it is refused (403). The
allowed origins are CHAT_ALLOWED_ORIGINS, the same ones Autobahn checks on the WebSocket
side.

A request without an Origin header comes from a program, not from a page in a browser,
and is let in: the check protects people's browsers; it does not identify anyone.
"""

from functools import lru_cache

from chatserver.config import ConfigError, normal_origin


def from_allowed_page(request, allowed_origins):
    """False when the request comes from a page whose origin is not allowed."""
    origin = request.getHeader(b"origin")
    return origin is None or comparable(origin) in allowed_origins


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
