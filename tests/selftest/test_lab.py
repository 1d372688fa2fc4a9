"""`nox -s lab` runs for root (with --allow-root) and for everyone else (without it), reads
its settings from the folder it wrote them to, and says so plainly when JUPYTER_PORT or an
existing overrides.json is wrong. (tests/chapters/test_lab_opens_chapters.py runs the lab.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.lab import (
    DEFAULT_VIEWERS,
    DOCMANAGER,
    lab_address,
    lab_command,
    planned,
    settings_folder,
    write_settings,
)

SETTINGS = Path("/env/share/jupyter/lab/settings")


def test_root_gets_allow_root_and_nobody_else_does() -> None:
    as_root = lab_command(port=8888, token="t", as_root=True, settings=SETTINGS, extra=[])
    as_user = lab_command(
        port=8888, token="t", as_root=False, settings=SETTINGS, extra=["--no-browser"]
    )
    assert "--allow-root" in as_root and "--allow-root" not in as_user
    assert as_user[-1] == "--no-browser", "arguments after -- reach JupyterLab"


def test_the_printed_address_is_the_one_the_server_listens_on() -> None:
    command = lab_command(port=9123, token="abc", as_root=False, settings=SETTINGS, extra=[])
    assert "--port=9123" in command and "--port-retries=0" in command
    assert "--IdentityProvider.token=abc" in command
    assert lab_address(9123, "abc") == "http://localhost:9123/lab?token=abc"


def test_the_lab_reads_the_settings_folder_of_its_own_environment() -> None:
    folder = settings_folder(Path("/env"))
    assert folder == SETTINGS
    command = lab_command(port=1, token="t", as_root=False, settings=folder, extra=[])
    assert f"--LabApp.app_settings_dir={SETTINGS}" in command


def test_the_default_viewer_is_added_to_what_overrides_json_says_already(tmp_path: Path) -> None:
    mine = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
            DOCMANAGER: {"defaultViewers": {"python": "Editor"}, "autosave": True,
                         "lastModifiedCheckMargin": 500}}  # fmt: skip
    (tmp_path / "overrides.json").write_text(json.dumps(mine))
    written = json.loads(write_settings(tmp_path).read_text())
    assert written[DOCMANAGER]["defaultViewers"] == {"python": "Editor", **DEFAULT_VIEWERS}
    assert written[DOCMANAGER]["autosave"] is False, "the lab never saves a chapter by itself"
    assert written[DOCMANAGER]["lastModifiedCheckMargin"] == 500
    assert written["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert json.loads(write_settings(tmp_path).read_text()) == written, "twice is once"


def test_a_broken_overrides_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "overrides.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"overrides.json is not valid JSON"):
        write_settings(tmp_path)


def test_a_jupyter_port_that_is_no_port_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PORT", "eighty")
    with pytest.raises(SystemExit, match=r"JUPYTER_PORT must be a port number.*'eighty'"):
        planned([], SETTINGS)
