"""What the chapters say about the servers' answers is what the servers answer.

The stage checks hold each server to the facts in harness/protocol.py; these hold the
chapters to the same facts, so text and behaviour cannot drift apart.
"""

from __future__ import annotations

from harness.protocol import PLAIN_GET_STATUS
from harness.stages import STAGES


def test_chapter_02_quotes_the_status_a_plain_get_of_a_socket_gets() -> None:
    text = STAGES["part2"].chapter_path.read_text()
    assert PLAIN_GET_STATUS in text.replace("\n   ", " "), (
        f"Chapter 02 should quote the answer to a plain GET of /ws/<id>, {PLAIN_GET_STATUS!r}, "
        "as the chat server sends it (test_chatserver_loopback.py checks the server)."
    )
