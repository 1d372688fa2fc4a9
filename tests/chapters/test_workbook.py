"""The chapters' %%change and %project_files helpers (tutorial/workbook.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.stages import TUTORIAL_DIR

sys.path.insert(0, str(TUTORIAL_DIR))
from workbook import ChangeError, change_file, project_files

SETTINGS = "INSTALLED_APPS = [\n    'chat',\n]\n\nDEBUG = True\n"
CHANGE = """\
@@ INSTALLED_APPS
 INSTALLED_APPS = [
     'chat',
+    'daphne',
 ]
@@
-DEBUG = True
+DEBUG = False
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "settings.py"
    path.write_text(SETTINGS)
    return path


def test_a_change_is_made_in_every_place_it_names(settings: Path) -> None:
    said = change_file("settings.py", CHANGE)
    assert settings.read_text() == (
        "INSTALLED_APPS = [\n    'chat',\n    'daphne',\n]\n\nDEBUG = False\n"
    )
    assert said == "Changed settings.py (2 of 2 places)."


def test_running_a_change_again_leaves_the_file_alone(settings: Path) -> None:
    change_file("settings.py", CHANGE)
    changed = settings.read_text()
    assert (
        change_file("settings.py", CHANGE) == "settings.py has this change already; nothing to do."
    )
    assert settings.read_text() == changed


def test_a_file_that_differs_is_not_touched_and_the_error_says_what_was_looked_for(
    settings: Path,
) -> None:
    settings.write_text(SETTINGS.replace("DEBUG = True", "DEBUG = env_flag('DEBUG')"))
    with pytest.raises(ChangeError) as error:
        change_file("settings.py", CHANGE)
    assert "DEBUG = True" in str(error.value) and "by hand" in str(error.value)
    assert "'daphne'" not in settings.read_text(), (
        "the first place changed although the second failed"
    )


def test_a_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ChangeError, match=r"no file chat/views\.py"):
        change_file("chat/views.py", " x\n+y\n")


def test_the_listing_leaves_out_environments_caches_and_the_database(tmp_path: Path) -> None:
    generated = [
        ".venv/lib/site.py",
        "chat/__pycache__/v.pyc",
        "db.sqlite3",
        "test-artefacts/x.png",
    ]
    for name in ["manage.py", "chat/views.py", *generated]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert project_files(tmp_path) == ["chat/views.py", "manage.py"]
