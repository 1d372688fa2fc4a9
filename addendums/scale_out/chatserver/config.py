"""The chat server's settings, read from environment variables in this one place.

Every limit the server enforces is listed here with its default, so the chapter, the
README and the tests can all point at one file. Change one by setting its variable:

    CHAT_LISTEN=tcp:9000 CHAT_RATE=2 twistd -n -y chatserver.tac

A value the server cannot use stops it at once, with one line that names the variable.
"""

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from twisted.internet import endpoints

DEFAULT_PORTS = {"http": 80, "https": 443}


class ConfigError(Exception):
    """A setting has a value the server cannot use; the message says which one and why."""


@dataclass(frozen=True)
class Config:
    listen: str = "tcp:8000:interface=127.0.0.1"
    """CHAT_LISTEN: where to listen, as a Twisted endpoint description.

    tcp:8000 listens on every interface, tcp:8000:interface=127.0.0.1 on this machine
    only, and ssl:8443:privateKey=key.pem:certKey=cert.pem speaks https and wss itself.
    """

    allowed_origins: tuple[str, ...] = ("http://localhost:8000", "http://127.0.0.1:8000")
    """CHAT_ALLOWED_ORIGINS: comma-separated origins of the pages allowed to connect.

    The pages come from this same process now, so the default is its own origin, by both
    of its local names: http (or https, for an ssl: endpoint) on the CHAT_LISTEN port.
    Name the public origin here when people reach the site under another name.
    """

    page_threads: int = 10
    """CHAT_PAGE_THREADS: threads Django's pages run in; more page requests at once wait."""

    max_length: int = 1000
    """CHAT_MAX_LENGTH: the most characters of text one chat message may have."""

    max_bytes: int = 8192
    """CHAT_MAX_BYTES: the largest WebSocket message (and frame) or HTTP request body."""

    rate: float = 5.0
    """CHAT_RATE: messages per second one connection may send, on average."""

    burst: int = 10
    """CHAT_BURST: messages one connection may send in a quick burst before CHAT_RATE bites."""

    max_buffer: int = 1048576
    """CHAT_MAX_BUFFER: bytes waiting for a client that has stopped reading before it is dropped."""

    ping_interval: float = 20.0
    """CHAT_PING_INTERVAL: seconds between the pings that check a client is still there."""

    ping_timeout: float = 10.0
    """CHAT_PING_TIMEOUT: seconds a client has to answer a ping before it is disconnected."""

    history: int = 100
    """CHAT_HISTORY: the latest messages each room keeps in memory, for clients to catch up
    from without a query. Every message is in the database as well."""

    poll_page: int = 50
    """CHAT_POLL_PAGE: the most messages one long-poll answer carries; the client asks for more."""

    poll_timeout: float = 25.0
    """CHAT_POLL_TIMEOUT: seconds a long-poll waits for a message before it is answered empty.

    Kept well under a minute: proxies commonly cut a request that stays quiet for 30 to 60 s.
    """

    max_parked: int = 100
    """CHAT_MAX_PARKED: long-polls that may wait in one room at once; more are told to retry."""

    session_recheck: float = 10.0
    """CHAT_SESSION_RECHECK: seconds the server trusts Django's word on a session.

    A logout here counts at once. A change made elsewhere (a deactivation or a password
    change in another process, a session deleted there) counts within this many seconds.
    """

    write_batch: int = 100
    """CHAT_WRITE_BATCH: the most messages stored together, in one transaction (writer.py)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """CHAT_REDIS_URL: the Redis every chat process shares, to tell each other what happened."""

    @classmethod
    def from_environ(cls, environ):
        """Build the settings from a mapping such as os.environ; unset variables keep defaults."""
        listen = read_endpoint(environ, "CHAT_LISTEN", cls.listen)
        config = cls(
            listen=listen,
            allowed_origins=read_origins(environ, "CHAT_ALLOWED_ORIGINS", own_origins(listen)),
            page_threads=read_integer(environ, "CHAT_PAGE_THREADS", cls.page_threads, low=1),
            max_length=read_integer(environ, "CHAT_MAX_LENGTH", cls.max_length, low=1),
            max_bytes=read_integer(environ, "CHAT_MAX_BYTES", cls.max_bytes, low=128),
            rate=read_positive_number(environ, "CHAT_RATE", cls.rate),
            burst=read_integer(environ, "CHAT_BURST", cls.burst, low=1),
            max_buffer=read_integer(environ, "CHAT_MAX_BUFFER", cls.max_buffer, low=1),
            ping_interval=read_positive_number(environ, "CHAT_PING_INTERVAL", cls.ping_interval),
            ping_timeout=read_positive_number(environ, "CHAT_PING_TIMEOUT", cls.ping_timeout),
            history=read_integer(environ, "CHAT_HISTORY", cls.history, low=1),
            poll_page=read_integer(environ, "CHAT_POLL_PAGE", cls.poll_page, low=1),
            poll_timeout=read_positive_number(environ, "CHAT_POLL_TIMEOUT", cls.poll_timeout),
            max_parked=read_integer(environ, "CHAT_MAX_PARKED", cls.max_parked, low=1),
            session_recheck=read_positive_number(
                environ, "CHAT_SESSION_RECHECK", cls.session_recheck
            ),
            write_batch=read_integer(environ, "CHAT_WRITE_BATCH", cls.write_batch, low=1),
            redis_url=read_redis_url(environ, "CHAT_REDIS_URL", cls.redis_url),
        )
        # UTF-8 takes at most 4 bytes a character, and the JSON around the text needs a
        # few more. If the longest allowed text did not fit in a WebSocket message (or an
        # HTTP body), people would see their connection closed instead of a "too long" error.
        needed = 4 * config.max_length + 64
        if config.max_bytes < needed:
            raise ConfigError(
                f"CHAT_MAX_BYTES ({config.max_bytes}) is too small for CHAT_MAX_LENGTH "
                f"({config.max_length}): a message that long can take {needed} bytes. "
                "Raise CHAT_MAX_BYTES or lower CHAT_MAX_LENGTH."
            )
        return config


def setting(environ, name):
    """The variable's value, or None when it is unset or blank."""
    value = environ.get(name, "").strip()
    return value or None


def read_text(environ, name, default):
    return setting(environ, name) or default


def read_integer(environ, name, default, low, high=None):
    text = setting(environ, name)
    if text is None:
        return default
    allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number {allowed}, not {text!r}.") from None
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{name} must be a whole number {allowed}, not {text!r}.")
    return value


def read_positive_number(environ, name, default):
    text = setting(environ, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a number greater than 0, not {text!r}.")
    return value


def read_endpoint(environ, name, default):
    """An endpoint description Twisted can listen on, checked now rather than at start-up."""
    from twisted.internet import reactor

    text = read_text(environ, name, default)
    try:
        endpoints.serverFromString(reactor, text)
    except Exception as problem:  # a typo, a missing certificate file, an unknown kind
        raise ConfigError(
            f"{name}: {text!r} is not an address to listen on ({problem}). Write it as a "
            "Twisted endpoint description, such as tcp:8000 or "
            "ssl:8443:privateKey=key.pem:certKey=cert.pem."
        ) from None
    return text


def own_origins(listen):
    """The origins of the pages this process serves on `listen` ("tcp:8000:...", port
    first), by both local names; None when the description does not say (a Unix socket)."""
    kind, _, rest = listen.partition(":")
    scheme = {"tcp": "http", "ssl": "https"}.get(kind)
    port = rest.split(":")[0].removeprefix("port=")
    if scheme is None or not port.isdigit():
        return None
    return (f"{scheme}://localhost:{port}", f"{scheme}://127.0.0.1:{port}")


def read_origins(environ, name, default):
    text = setting(environ, name)
    if text is None:
        if default is None:
            raise ConfigError(f"{name} must be set when CHAT_LISTEN is not a tcp: or ssl: port.")
        return default
    origins = tuple(normal_origin(name, item.strip()) for item in text.split(",") if item.strip())
    if not origins:
        raise ConfigError(f"{name} must list at least one origin, such as http://localhost:8000.")
    return origins


def normal_origin(name, text):
    """Write an origin the way Autobahn compares it: scheme://host:port, port always given.

    Browsers leave a default port out ("https://chat.example.com"), but Autobahn checks
    "https://chat.example.com:443" against the allowed list, so we add it here.
    """
    problem = ConfigError(
        f"{name}: {text!r} is not an origin. Write each one like http://localhost:8000: "
        "http or https, a host and an optional port, with no path."
    )
    parts = urlsplit(text)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # the port is not a number from 0 to 65535
        raise problem from None
    if (
        parts.scheme not in DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise problem
    return f"{parts.scheme}://{parts.hostname}:{port}"


def read_redis_url(environ, name, default):
    text = read_text(environ, name, default)
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ConfigError(
            f"{name}: {text!r} is not a Redis address. Write it like redis://127.0.0.1:6379/0."
        )
    return text
