"""The people the checks chat as, on a stage where chatting needs a login (feature "auth").

Every prepared database gets these accounts, and a logged-in session for each, made without
a browser (Django's test client logs them in). A check that does not care who is speaking
chats as VISITOR; the checks about names use ALICE and BOB.
"""

from __future__ import annotations

VISITOR = "visitor"
ALICE = "alice"
BOB = "bob"
EVERYONE = (VISITOR, ALICE, BOB)
PASSWORD = "workbook-chat-password"
"""Every one of them logs in with this, where a check types it into the login page."""

CSRF_SECRET = "harnesscsrfsecret0123456789abcde"
"""A CSRF secret (32 letters and digits, as Django makes them) the clients hold as their
csrftoken cookie and send back in X-CSRFToken, as a room page does with its own."""


def credentials(session_key: str) -> dict[str, str]:
    """The headers that make a request come from a page of the person with ``session_key``."""
    return {
        "Cookie": f"sessionid={session_key}; csrftoken={CSRF_SECRET}",
        "X-CSRFToken": CSRF_SECRET,
    }
