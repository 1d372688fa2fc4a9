"""The harness checks itself: a copy of a stage with a real mistake must fail, in plain words.

A check that cannot fail proves nothing. Each case copies the reference stage, makes one
mistake a learner could make (the catalogue is selftest/mistakes.py), runs the stage's checks
against the copy with --stage-dir, and requires a failure whose message tells the learner what
to look at.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import cast

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver

from harness import chat_page
from selftest.copies import copy_stage, edit, run_checks
from selftest.mistakes import (
    MISTAKES,
    PORT_HELD_BY_ANOTHER_PROGRAM,
    STARTUP_MISTAKES,
    Mistake,
    StartupMistake,
)


def break_copy(mistake: Mistake, into: Path) -> Path:
    """A copy of the mistake's stage with the mistake made in it."""
    folder = copy_stage(mistake.stage, into)
    edit(folder, mistake.file, mistake.correct, mistake.broken)
    return folder


def what_it_said(output: str) -> str:
    """What the failures in pytest's ``output`` said to the learner: the ``E`` lines of each
    traceback, and the whole of a message given without one (a server that had to be
    killed, say), but never the checks' own source code that a traceback shows."""
    failures = output.split("short test summary")[0]
    said = []
    for section in re.split(r"^_+ .+ _+$", failures, flags=re.MULTILINE)[1:]:
        lines = section.strip("\n").splitlines()
        if any(line.startswith(("E ", "> ")) for line in lines):
            said += [line for line in lines if line.startswith("E ")]
        else:
            said += lines
    return "\n".join(said)


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_stage_with_a_mistake_fails_in_plain_words(mistake: Mistake, tmp_path: Path) -> None:
    folder = break_copy(mistake, tmp_path)
    artefacts = tmp_path / "artefacts"

    caught = mistake.caught()
    choose = " or ".join(f"({each.checks})" for each in caught)
    result = run_checks(mistake.stage, folder, artefacts, "-k", choose)

    output = result.stdout + result.stderr
    assert result.returncode == 1, f"the checks did not fail on the broken copy:\n{output}"
    said = what_it_said(output)
    for each in caught:
        assert each.message in said, (
            f"the failure of {each.checks} does not say {each.message!r}:\n{output}"
        )
    if mistake.in_a_browser:
        run = (artefacts / "latest").resolve()
        named = [Path(line.strip()) for line in output.splitlines() if line.startswith("  /")]
        assert any(p.suffix == ".png" for p in named) and any(
            p.name == "server-django.log" for p in named
        ), f"the failure does not name a screenshot and a server log:\n{output}"
        assert all(p.is_file() and p.is_relative_to(run) for p in named), (
            f"the files the failure names are not this run's ({run}):\n{output}"
        )


def problems(output: str) -> int:
    """How many checks pytest's closing line says failed or could not be set up."""
    counts = re.findall(r"(\d+) (?:failed|errors?)\b", output.splitlines()[-1])
    return sum(int(count) for count in counts)


@pytest.mark.parametrize("mistake", STARTUP_MISTAKES.values(), ids=STARTUP_MISTAKES.keys())
def test_a_stage_that_cannot_start_is_reported_once_first(
    mistake: StartupMistake, tmp_path: Path
) -> None:
    folder = copy_stage(mistake.stage, tmp_path)
    if mistake.correct:
        edit(folder, mistake.file, mistake.correct, mistake.broken)
    else:
        (folder / mistake.file).unlink()

    with socket.socket() as held:  # another program holding a port, as in a workshop room
        held.bind(("127.0.0.1", PORT_HELD_BY_ANOTHER_PROGRAM))
        held.listen()
        result = run_checks(mistake.stage, folder, tmp_path / "artefacts", "--quick")

    output = result.stdout + result.stderr
    assert result.returncode == 1, f"the checks did not fail on the broken copy:\n{output}"
    assert problems(output) == 1, f"the problem was not reported exactly once:\n{output}"
    assert mistake.message in output.split("short test summary")[0], (
        f"the failure does not say {mistake.message!r}:\n{output}"
    )
    empty = [p for p in (tmp_path / "artefacts").rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert not empty, f"the run left empty evidence folders: {empty}"


# -- the harness's readers of a page that changes as they read it -----------------------------


class ShownElement:
    def __init__(self, text: str) -> None:
        self.text = text

    def get_attribute(self, name: str) -> str:
        return self.text


class ReplacedElement:
    """An element the page replaced between its finding and its reading."""

    def get_attribute(self, name: str) -> str:
        raise StaleElementReferenceException("stale element reference: element is not attached")


class ChangingPage:
    """A browser window whose message list is replaced while it is read, the first
    ``changes`` times, as the history page replaces its "sending…" lines."""

    def __init__(self, changes: int) -> None:
        self.changes = changes
        self.reads = 0

    def find_elements(self, by: str, selector: str) -> list[object]:
        self.reads += 1
        if self.reads <= self.changes:
            return [ShownElement("before"), ReplacedElement()]
        return [ShownElement("one"), ShownElement("two")]


def test_a_list_replaced_while_it_is_read_is_read_again() -> None:
    page = ChangingPage(changes=3)
    assert chat_page.messages(cast(WebDriver, page)) == ["one", "two"]
    assert page.reads == 4


def test_a_list_replaced_at_every_read_fails_in_plain_words() -> None:
    page = ChangingPage(changes=10**6)
    replaced = re.escape("replaced its '#message_list li .text' elements")
    with pytest.raises(AssertionError, match=replaced):
        chat_page.messages(cast(WebDriver, page))
    assert page.reads == chat_page.STALE_READS
