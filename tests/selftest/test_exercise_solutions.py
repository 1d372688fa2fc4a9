"""A correct solution to a chapter's exercise passes the stage's checks.

Learners add to the protocol: chapter 02's exercise 1 sends presence messages, chapter 05's
exercise 4 adds the person's name to the welcome. The checks pass over message types and
fields they do not know, as every client must, so such a solution has to pass every check of
its stage, and the checks must write nothing into its folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from selftest.copies import copy_stage, edit, files_in, run_checks

# Chapter 02, exercise 1, "Who is here?": after its welcome, everyone in the room hears
# how many are here, whenever someone joins or leaves.
PRESENCE_ON_JOIN = (
    "        self.send_json(messages.welcome(self.room.id, config))\n",
    "        self.send_json(messages.welcome(self.room.id, config))\n"
    "        self.tell_the_room_who_is_here()\n",
)
PRESENCE_ON_LEAVE = (
    "        self.factory.leave(self, self.room)\n",
    "        self.factory.leave(self, self.room)\n        self.tell_the_room_who_is_here()\n",
)
PRESENCE_METHOD = (
    "    def send_json(self, message):\n",
    "    def tell_the_room_who_is_here(self):\n"
    '        news = {"type": "presence", "room": self.room.id, "count": len(self.room.clients)}\n'
    "        for client in list(self.room.clients):\n"
    "            client.send_json(news)\n"
    "\n"
    "    def send_json(self, message):\n",
)


WHOLE_STAGE = pytest.mark.timeout(1800)
"""These run every check of a stage in a child pytest: far longer than one check."""


@WHOLE_STAGE
@pytest.mark.parametrize("stage", ["part2", "part3"])
def test_presence_messages_pass_every_check(stage: str, tmp_path: Path) -> None:
    folder = copy_stage(stage, tmp_path)
    for old, new in (PRESENCE_ON_JOIN, PRESENCE_ON_LEAVE, PRESENCE_METHOD):
        edit(folder, "chatserver/protocol.py", old, new)
    before = files_in(folder)

    result = run_checks(stage, folder, tmp_path / "artefacts")

    assert result.returncode == 0, (
        f"{stage} with presence messages (chapter 02, exercise 1) failed its checks; the "
        f"checks must pass over message types they do not know:\n{result.stdout[-6000:]}"
    )
    assert files_in(folder) == before, "the checks wrote into the stage folder"


# Every JSON object the chat server sends (welcome, message, ack, error, missed, poll answers,
# and the objects inside them) goes through messages.encode: there, each gets a field no check
# knows, as when a learner adds a colour to messages or "you" to the welcome.
ENCODE = (
    "def encode(message):\n",
    "def with_a_colour(value):\n"
    "    if isinstance(value, dict):\n"
    "        coloured = {key: with_a_colour(item) for key, item in value.items()}\n"
    '        return {**coloured, "colour": "teal"}\n'
    "    if isinstance(value, list):\n"
    "        return [with_a_colour(item) for item in value]\n"
    "    return value\n"
    "\n"
    "\n"
    "def encode(message):\n"
    "    message = with_a_colour(message)\n",
)


@WHOLE_STAGE
@pytest.mark.parametrize("stage", ["part2", "part3", "history"])
def test_a_field_the_checks_do_not_know_passes_every_check(stage: str, tmp_path: Path) -> None:
    folder = copy_stage(stage, tmp_path)
    edit(folder, "chatserver/messages.py", *ENCODE)

    result = run_checks(stage, folder, tmp_path / "artefacts")

    assert result.returncode == 0, (
        f"{stage}, whose chat server adds a field to every object it sends, failed its checks; "
        f"the checks must pass over fields they do not know:\n{result.stdout[-6000:]}"
    )
