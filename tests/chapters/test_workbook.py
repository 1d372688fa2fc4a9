"""The chapters' %%change and %project_files helpers (tutorial/workbook.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.stages import TUTORIAL_DIR

sys.path.insert(0, str(TUTORIAL_DIR))
import workbook
from packaging.requirements import Requirement
from workbook import (
    ChangeError,
    FolderError,
    InstallError,
    change_file,
    folder_of_chapter,
    install_requirements,
    keep_copy,
    missing_requirements,
    project_files,
    start_branch,
    unmet,
)

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


# -- %install_requirements ------------------------------------------------------------------


@pytest.fixture
def made_up_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution, madeup 1.0, whose extra "more" needs a package that is not."""
    info = tmp_path / "site" / "madeup-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: madeup\nVersion: 1.0\n"
        'Provides-Extra: more\nRequires-Dist: no-such-package-anywhere; extra == "more"\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return "madeup"


def test_an_installed_pin_is_met_and_a_wrong_version_or_a_missing_extra_is_not(
    made_up_package: str,
) -> None:
    assert unmet(Requirement("madeup==1.0")) is None
    assert unmet(Requirement("madeup==2.0")) == "madeup 1.0 is installed, not ==2.0"
    assert unmet(Requirement("madeup[more]==1.0")) == (
        "no-such-package-anywhere is not installed (for madeup[more])"
    )


def test_a_requirements_file_installed_already_installs_nothing(
    tmp_path: Path, made_up_package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# what the chat needs\nmadeup==1.0  # pinned\n\n")

    def never(path: Path) -> list[list[str]]:
        raise AssertionError("an installer was started although nothing was missing")

    monkeypatch.setattr(workbook, "install_commands", never)
    assert install_requirements(requirements) == (
        f"Everything {requirements} lists is installed already; nothing to do."
    )


def test_what_is_missing_is_installed_into_the_notebooks_own_python(
    tmp_path: Path, made_up_package: str
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("madeup==1.0\nno-such-package-anywhere==3.1\n")
    assert missing_requirements(requirements) == ["no-such-package-anywhere is not installed"]
    *first, command = workbook.install_commands(requirements)
    assert first in ([], [[sys.executable, "-m", "ensurepip"]])
    if command[0] == sys.executable:
        assert command == [sys.executable, "-m", "pip", "install", "-r", str(requirements)]
    else:
        uv_pip = ["pip", "install", "--python", sys.executable, "-r", str(requirements)]
        assert command[1:] == uv_pip


def test_a_failed_install_says_so_in_plain_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("no-such-package-anywhere==3.1\n")
    failing = [sys.executable, "-c", "raise SystemExit(1)"]
    monkeypatch.setattr(workbook, "install_commands", lambda path: [failing])
    with pytest.raises(InstallError, match="failed; the lines above say why"):
        install_requirements(requirements)
    with pytest.raises(InstallError, match="no file"):
        install_requirements(tmp_path / "nowhere.txt")


# -- the learner's folders ------------------------------------------------------------------


def a_project(folder: Path, marker: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "manage.py").write_text(marker)
    return folder


def test_a_kept_copy_is_made_once_and_never_overwritten(tmp_path: Path) -> None:
    main = a_project(tmp_path / "django-twisted-chat", "part 3")
    kept = folder_of_chapter(main, "03")
    assert kept == tmp_path / "django-twisted-chat-03"
    keep_copy(main, kept)
    (main / "manage.py").write_text("one process")
    keep_copy(main, kept)
    assert (kept / "manage.py").read_text() == "part 3"


def test_a_branch_starts_from_the_learners_kept_copy_then_carries_on_in_its_own_folder(
    tmp_path: Path,
) -> None:
    main = a_project(tmp_path / "django-twisted-chat", "history")
    kept = a_project(folder_of_chapter(main, "03"), "my own part 3")
    branch = folder_of_chapter(main, "07")
    start_branch(branch, own=kept, reference="part3_longpoll")
    assert (branch / "manage.py").read_text() == "my own part 3"
    (branch / "manage.py").write_text("my work on 07")
    start_branch(branch, own=kept, reference="part3_longpoll")
    assert (branch / "manage.py").read_text() == "my work on 07"
    assert (main / "manage.py").read_text() == "history"


def test_a_branch_without_a_kept_copy_starts_from_the_reference_stage(tmp_path: Path) -> None:
    branch = tmp_path / "django-twisted-chat-07"
    start_branch(branch, own=tmp_path / "django-twisted-chat-03", reference="part3_longpoll")
    reference = TUTORIAL_DIR.parent / "part3_longpoll"
    assert project_files(branch) == project_files(reference)
    with pytest.raises(FolderError, match="no project in"):
        start_branch(tmp_path / "other", own=tmp_path / "none", reference="no_such_stage")
