"""Settings for the django_twisted_chat site.

Everything a person or the test harness may need to change is read from an
environment variable, with a default that works on a laptop. Nothing here has
to be edited to run the site somewhere else.
"""

import os
import warnings
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name, default):
    """Read an on/off switch such as DJANGO_DEBUG=0 or DJANGO_DEBUG=true."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    """Read a comma-separated list such as DJANGO_ALLOWED_HOSTS=a.example,b.example."""
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name, default):
    """Read a whole number such as CHAT_PORT=1025, refusing anything else in plain words."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def env_seconds(name, default):
    """Read a number of seconds such as CHAT_POLL_TIMEOUT=25 or 2.5."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number of seconds") from None


def env_count(name, default):
    """Read a whole number of at least 1, such as CHAT_KEEP_MESSAGES=500."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number of at least 1")
    return number


def database_from_environment():
    """Django's settings for PostgreSQL, from DATABASE_URL or the PG* variables."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE") or "django_twisted_chat",
            "HOST": os.environ.get("PGHOST", ""),
            "PORT": os.environ.get("PGPORT", ""),
            "USER": os.environ.get("PGUSER", ""),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
        }
    problem = ImproperlyConfigured(
        f"DATABASE_URL={url!r} is not a PostgreSQL address; write it like "
        "postgresql://chat:secret@127.0.0.1:5432/django_twisted_chat"
    )
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise problem
    try:
        port = parts.port
    except ValueError:  # not a number from 0 to 65535
        raise problem from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.strip("/")),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port or ""),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
    }


DEBUG = env_flag("DJANGO_DEBUG", True)

# The development key is public (it is in this file), so it must never sign
# anything that matters. Set DJANGO_SECRET_KEY wherever real people log in.
DEVELOPMENT_SECRET_KEY = "django-insecure-workbook-development-key-do-not-deploy"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if SECRET_KEY == DEVELOPMENT_SECRET_KEY and not DEBUG:
    warnings.warn(
        "DJANGO_SECRET_KEY is not set: the public development key is in use "
        "with DEBUG off. Set DJANGO_SECRET_KEY before anyone else uses this site.",
        stacklevel=1,
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "chat",
    "accounts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # PostgreSQL away: a 503 page in plain words, not a 500 with a traceback.
    "chat.unavailable.DatabaseUnavailable",
]

ROOT_URLCONF = "django_twisted_chat.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "django_twisted_chat.wsgi.application"

# PostgreSQL, which every chat process shares: messages and their ids, users, sessions.
# DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/NAME) says where it is; without it,
# the usual PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD) do, as for psql, and blank
# ones take libpq's defaults (this machine's socket, your login name).
DATABASES = {
    "default": {
        **database_from_environment(),
        # Each thread keeps its connection (PostgreSQL starts a process for every new one)
        # and checks that it still works before using it again, so that after a PostgreSQL
        # restart the next query opens a new one instead of failing on the old.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Every chat page needs a logged-in person; Django's login_required sends anyone else here,
# and logging in or out leads on to the rooms or back to the login page.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "static/"

# The Twisted process serves the files under STATIC_URL itself (chatserver/static.py). With
# DJANGO_STATIC_ROOT set, it serves what `python manage.py collectstatic` gathered there, as a
# deployment does; unset, it serves each app's own files, found by Django's finders.
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or None

# The longest a room page waits between two tries to reach the chat server, in milliseconds.
# It never stops trying while it is open; the checks make the wait short.
CHAT_LONGEST_RETRY_MS = env_int("CHAT_LONGEST_RETRY_MS", 10000)

# How long the chat server holds a poll when nothing happens (the same variable it reads).
# The long-poll page waits a little longer than that before it gives a poll up for lost.
CHAT_POLL_TIMEOUT = env_seconds("CHAT_POLL_TIMEOUT", 25)

# How many of a room's latest messages its page shows when it loads; the rest of the
# conversation arrives live after them.
CHAT_PAGE_MESSAGES = env_count("CHAT_PAGE_MESSAGES", 50)

# What `python manage.py prune_messages` keeps of each room: its latest CHAT_KEEP_MESSAGES
# messages, and of those only the ones younger than CHAT_KEEP_DAYS days (unset: any age).
CHAT_KEEP_MESSAGES = env_count("CHAT_KEEP_MESSAGES", 10000)
CHAT_KEEP_DAYS = env_count("CHAT_KEEP_DAYS", None)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
