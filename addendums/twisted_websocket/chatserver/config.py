"""The chat server's settings, read from environment variables in this one place.

Every limit the server enforces is listed here with its default, so the chapter, the
README and the tests can all point at one file. Change one by setting its variable:

    CHAT_PORT=9000 CHAT_RATE=2 twistd -n -y chatserver.tac

A value the server cannot use stops it at once, with one line that names the variable.
"""

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class ConfigError(Exception):
    """A setting has a value the server cannot use; the message says which one and why."""


@dataclass(frozen=True)
class Config:
    port: int = 1025
    """CHAT_PORT: the TCP port to listen on (1025, like the 2013 original)."""

    interface: str = "127.0.0.1"
    """CHAT_INTERFACE: the address to listen on; 0.0.0.0 lets other machines in."""

    allowed_origins: tuple[str, ...] = ("http://localhost:8000", "http://127.0.0.1:8000")
    """CHAT_ALLOWED_ORIGINS: comma-separated origins of the pages allowed to connect.

    Defaults to the Django site on DJANGO_PORT (8000), by both of its local names.
    """

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
    """CHAT_HISTORY: the latest messages each room keeps in memory, for long-polls to catch up."""

    poll_page: int = 50
    """CHAT_POLL_PAGE: the most messages one long-poll answer carries; the client asks for more."""

    poll_timeout: float = 25.0
    """CHAT_POLL_TIMEOUT: seconds a long-poll waits for a message before it is answered empty.

    Kept well under a minute: proxies commonly cut a request that stays quiet for 30 to 60 s.
    """

    max_parked: int = 100
    """CHAT_MAX_PARKED: long-polls that may wait in one room at once; more are told to retry."""

    @classmethod
    def from_environ(cls, environ):
        """Build the settings from a mapping such as os.environ; unset variables keep defaults."""
        django_port = read_integer(environ, "DJANGO_PORT", 8000, low=1, high=65535)
        config = cls(
            port=read_integer(environ, "CHAT_PORT", cls.port, low=1, high=65535),
            interface=read_text(environ, "CHAT_INTERFACE", cls.interface),
            allowed_origins=read_origins(
                environ,
                "CHAT_ALLOWED_ORIGINS",
                (f"http://localhost:{django_port}", f"http://127.0.0.1:{django_port}"),
            ),
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


def read_origins(environ, name, default):
    text = setting(environ, name)
    if text is None:
        return default
    origins = tuple(normal_origin(name, item.strip()) for item in text.split(",") if item.strip())
    if not origins:
        raise ConfigError(f"{name} must list at least one origin, such as http://localhost:8000.")
    return origins


def normal_origin(name, text):
    """Write an origin the way the server compares them: scheme://host:port, port always given.

    Browsers leave a default port out ("https://chat.example.com"); cors.comparable writes
    the Origin header they send the same way, so "https://chat.example.com:443" in the
    settings matches it.
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
