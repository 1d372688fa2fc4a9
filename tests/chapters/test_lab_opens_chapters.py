"""`nox -s lab` opens a chapter as a notebook on a double-click, not as Markdown source.

The lab runs here as ``nox -s lab`` runs it (the same command, the same settings written the
same way, in this environment's JupyterLab), with empty user settings of its own, so that the
settings of whoever runs the checks cannot decide the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from harness.http import request
from harness.lab import (
    DEFAULT_VIEWERS,
    DOCMANAGER,
    START_TIMEOUT,
    RunningLab,
    running_lab,
    write_settings,
)
from harness.processes import free_port
from harness.stages import REPO_ROOT, TUTORIAL_DIR
from harness.waits import wait_for

CHAPTER = "05_auth.md"
FRONT_MATTER = "format_name: myst"
"""A line of every chapter's front matter: seen only when a chapter opens as text."""


def answers(lab: RunningLab) -> bool:
    try:
        return request(lab.url("/api/status"), timeout=5).status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """One lab for the run (its browser check runs last, with the other browser checks)."""
    home = tmp_path_factory.mktemp("lab")
    settings = home / "settings"
    write_settings(settings)
    with running_lab(REPO_ROOT, settings, home, free_port()) as running:
        wait_for(
            lambda: answers(running),
            f"JupyterLab did not start; its log is {running.log}. Is jupyterlab installed "
            "(tutorial/requirements.txt)?",
            timeout=START_TIMEOUT,
        )
        yield running


def test_the_lab_reads_jupytext_notebook_as_the_chapters_default_viewer(
    lab: RunningLab,
) -> None:
    answer = request(lab.url(f"/lab/api/settings/{DOCMANAGER}"), timeout=30)
    assert answer.status == 200, f"JupyterLab's settings API said {answer.status}: {answer.text}"
    found = answer.json()
    default = found["schema"]["properties"]["defaultViewers"]["default"]
    wrong = {kind: default.get(kind) for kind, viewer in DEFAULT_VIEWERS.items()
             if default.get(kind) != viewer}  # fmt: skip
    assert not wrong, (
        f"JupyterLab's default viewers do not open the chapters as notebooks: {wrong}; "
        f"expected {DEFAULT_VIEWERS}. `nox -s lab` writes them to the lab's overrides.json "
        "(tests/harness/lab.py, write_settings) and passes that folder to JupyterLab."
    )
    assert "defaultViewers" not in found["settings"], "the user settings here start empty"
    autosave = found["schema"]["properties"]["autosave"]["default"]
    assert autosave is False, (
        f"JupyterLab's autosave is {autosave}: it would save a chapter two minutes after it "
        "opens, and Jupytext would rewrite the chapter's file (tests/harness/lab.py)."
    )


def chapter_in_file_browser(driver: webdriver.Chrome, name: str) -> WebElement | None:
    for item in driver.find_elements(By.CSS_SELECTOR, ".jp-DirListing-item"):
        if item.find_element(By.CSS_SELECTOR, ".jp-DirListing-itemText").text == name:
            return item
    return None


def title_of(chapter: Path) -> str:
    """The chapter's first heading, as a rendered notebook shows it."""
    text = chapter.read_text()
    return next(line[2:] for line in text.splitlines() if line.startswith("# "))


def opened_as(driver: webdriver.Chrome) -> str | None:
    """How the chapter's tab shows it: "notebook" once it has cells, "text" in an editor."""
    tab = driver.find_elements(By.CSS_SELECTOR, "#jp-main-dock-panel .jp-MainAreaWidget")
    shown = [widget for widget in tab if widget.is_displayed()]
    if not shown:
        return None
    if shown[0].find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"):
        return "notebook"
    if shown[0].find_elements(By.CSS_SELECTOR, ".jp-FileEditor"):
        return "text"
    return None


def test_a_double_click_opens_a_chapter_as_a_notebook(
    lab: RunningLab, browser: webdriver.Chrome
) -> None:
    browser.get(lab.url("/lab"))
    item = wait_for(
        lambda: chapter_in_file_browser(browser, CHAPTER),
        f"JupyterLab's file browser never listed {CHAPTER}; its log is {lab.log}",
        timeout=START_TIMEOUT,
    )
    ActionChains(browser).double_click(item).perform()
    how = wait_for(
        lambda: opened_as(browser),
        f"a double-click on {CHAPTER} opened nothing; its log is {lab.log}",
        timeout=START_TIMEOUT,
    )
    assert how == "notebook", (
        f"a double-click opened {CHAPTER} as {how}, showing its Markdown source, not as a "
        "notebook of cells: JupyterLab did not take Jupytext Notebook as the default "
        "viewer (tests/harness/lab.py, DEFAULT_VIEWERS)."
    )
    title = title_of(TUTORIAL_DIR / CHAPTER)
    main = browser.find_element(By.CSS_SELECTOR, "#jp-main-dock-panel")
    wait_for(
        lambda: title in main.find_element(By.CSS_SELECTOR, ".jp-RenderedMarkdown h1").text,
        f"the notebook of {CHAPTER} never showed its title, {title!r}, as a heading",
        timeout=START_TIMEOUT,
    )
    assert FRONT_MATTER not in main.text, f"the notebook of {CHAPTER} shows its front matter"
