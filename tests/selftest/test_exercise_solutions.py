"""A correct solution to a chapter's exercise passes the stage's checks.

Learners add to the protocol: chapter 02's exercise 1 sends presence messages, chapter 05's
exercise 4 adds the person's name to the welcome. The checks pass over message types and
fields they do not know, as every client must, so such a solution has to pass every check of
its stage, and the checks must write nothing into its folder.

The worked solutions in tutorial/solutions/<chapter>/ (one patch per exercise, for the
instructors' notes) are held to the same: all of a chapter's patches are applied, in order,
to one copy of its stage, and one run of the stage's checks must pass.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.stages import NEWEST, REPO_ROOT, STAGES, Stage
from selftest.copies import copy_stage, edit, files_in, run_checks

SOLUTIONS = REPO_ROOT / "tutorial" / "solutions"
SOLVED = [stage for stage in STAGES.values() if (SOLUTIONS / stage.chapter_path.stem).is_dir()]
"""The stages whose chapter has worked solutions as patches."""
CAUGHT_BY = {
    "part2": "chatserver or chat_browser",
    "twisted_websocket": "test_twisted_websocket or chatserver or stopping",
}
"""For a stage whose every check would take long, the checks (pytest -k) that would catch a
wrong solution: those of the files its patches change. Every check runs for other stages."""

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


def apply_solution(patch: Path, folder: Path) -> None:
    """Apply one exercise's patch to a copy of its stage, as ``git apply`` does."""
    done = subprocess.run(
        ["git", "apply", "--verbose", str(patch)], cwd=folder, capture_output=True, text=True
    )
    assert done.returncode == 0, (
        f"{patch.relative_to(REPO_ROOT)} no longer applies to its stage, which has changed "
        f"since it was written. Redo the exercise on the stage as it is now and write the "
        f"patch again (git diff). git apply said:\n{done.stderr}"
    )


@pytest.mark.timeout(1800)  # every check of a stage, in a child pytest
@pytest.mark.parametrize("stage", SOLVED, ids=[stage.name for stage in SOLVED])
def test_the_worked_solutions_to_a_chapters_exercises_pass_its_checks(
    stage: Stage, tmp_path: Path
) -> None:
    patches = sorted((SOLUTIONS / stage.chapter_path.stem).glob("*.diff"))
    folder = copy_stage(stage.name, tmp_path)
    for patch in patches:
        apply_solution(patch, folder)

    chosen = ("-k", CAUGHT_BY[stage.name]) if stage.name in CAUGHT_BY else ()
    result = run_checks(stage.name, folder, tmp_path / "artefacts", *chosen)

    assert result.returncode == 0, (
        f"{stage.name} with the worked solutions {[p.name for p in patches]} applied failed "
        f"its checks; a solution shown to instructors must keep every check passing:\n"
        f"{result.stdout[-6000:]}"
    )
