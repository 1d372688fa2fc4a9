"""The newest stage's settings, plus the board: its app, its URLs and the workshop's code.

DJANGO_SETTINGS_MODULE=harness.board.settings, with the stage folder and tests/ on the
path, runs the stage as it is with the board added (harness/workshop.py does that).
"""

import os

from django.core.exceptions import ImproperlyConfigured

from django_twisted_chat.settings import *  # noqa: F403 (the stage's settings, all of them)
from django_twisted_chat.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "harness.board"]
ROOT_URLCONF = "harness.board.urls"

WORKSHOP_CODE = os.environ.get("WORKSHOP_CODE", "")
"""The short code a report must carry: only learners in the room see it, on the board."""
if not WORKSHOP_CODE:
    raise ImproperlyConfigured("WORKSHOP_CODE is not set: run the board with nox -s workshop.")

_interface = os.environ.get("CHAT_INTERFACE", "127.0.0.1")
WORKSHOP_SELF_URL = "http://{}:{}".format(
    "127.0.0.1" if _interface in ("", "0.0.0.0") else _interface,
    os.environ.get("DJANGO_PORT", "8000"),
)
"""Where this very process answers: the board posts into its room through the chat's API."""
