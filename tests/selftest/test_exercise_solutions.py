"""A correct solution to a chapter's exercise passes the stage's checks.

Learners add to the protocol: chapter 02's exercise 1 sends presence messages, chapter 05's
exercise 4 adds the person's name to the welcome. The checks pass over message types and
fields they do not know, as every client must, so such a solution has to pass every check of
its stage, and the checks must write nothing into its folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.stages import NEWEST, STAGES
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


# part3 and the newest stage between them run every check there is for an in-memory chat and
# a stored one; part2's checks are all part3's too (part3 only adds long-polling), and they
# read part2 and part3 the same way, so running part2 as well would prove nothing more.
@pytest.mark.timeout(1800)  # every check of a stage, in a child pytest
@pytest.mark.parametrize("stage", ["part3", NEWEST.name])
def test_a_learners_own_types_and_fields_pass_every_check(stage: str, tmp_path: Path) -> None:
    """A learner's copy, in a folder whose path has a space in it, with presence messages
    and a field no check knows on every object the chat server sends, passes every check of
    its stage, and the checks write nothing into it."""
    folder = copy_stage(stage, tmp_path / "a learner's folder")
    for old, new in (PRESENCE_ON_JOIN, PRESENCE_ON_LEAVE, PRESENCE_METHOD):
        edit(folder, "chatserver/protocol.py", old, new)
    edit(folder, "chatserver/messages.py", *ENCODE)
    before = files_in(folder)

    result = run_checks(stage, folder, tmp_path / "artefacts")

    assert result.returncode == 0, (
        f"{stage} with presence messages (chapter 02, exercise 1) and a field the checks do "
        "not know on every object it sends failed its checks; the checks must pass over "
        f"message types and fields they do not know:\n{result.stdout[-6000:]}"
    )
    after = files_in(folder)
    assert after == before, (
        f"the checks wrote into the stage folder: {sorted(set(after) - set(before))}"
    )


def test_part3_runs_every_check_part2_runs() -> None:
    """Why part2 is left out above: a check runs where the stage has every feature it needs,
    so part3, with all of part2's features, runs all of part2's checks."""
    assert STAGES["part2"].features <= STAGES["part3"].features, (
        "part2 has features part3 lacks, so some of its checks no longer run on part3: "
        "add part2 back to the stages of test_a_learners_own_types_and_fields_pass_every_check"
    )
