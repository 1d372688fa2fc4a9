"""CI sets up its machine with the README's own lines, so the README cannot lack a step."""

from __future__ import annotations

import importlib.util

import pytest

from harness.stages import REPO_ROOT

CI = REPO_ROOT / ".ci"


def readme_setup():
    spec = importlib.util.spec_from_file_location("readme_setup", CI / "readme_setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_runs_the_readme_setup_block_and_then_the_readme_test_command() -> None:
    run = (CI / "run").read_text()
    assert "python3 .ci/readme_setup.py)" in run, ".ci/run must run the README's setup lines"
    assert run.rstrip().endswith("\nnox"), ".ci/run must end with the README's test command"


def test_the_setup_block_updates_first_and_installs_what_the_checks_need() -> None:
    lines = readme_setup().setup_lines((REPO_ROOT / "README.md").read_text(), as_root=False)
    assert lines[0] == "sudo apt-get update", "apt-get install on a fresh machine needs update"
    text = "\n".join(lines)
    needs = ("chromium", "chromium-driver", "pipx install nox", "pipx inject nox uv")
    scale_out = ("redis-server", "postgresql", "haproxy")  # chapter 09's servers
    node = ("nodejs", "apt-get install -y npm")  # the bench's Node peers and their packages
    for needed in (*needs, *scale_out, *node):
        assert needed in text, f"the README's setup lines do not install {needed}"
    assert "pip install" not in text.replace("pipx install", ""), (
        "Debian's Python refuses `pip install` outside a virtual environment (PEP 668)"
    )


def test_root_types_the_same_lines_without_sudo() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    as_root = readme_setup().setup_lines(readme, as_root=True)
    as_user = readme_setup().setup_lines(readme, as_root=False)
    assert not any("sudo " in line for line in as_root), "root has no sudo to type"
    assert [line.replace("sudo ", "") for line in as_user] == as_root
    assert "without it" in readme, "the README must say that root leaves out sudo"


def test_a_readme_without_the_block_gives_no_setup_lines() -> None:
    with pytest.raises(IndexError):
        readme_setup().setup_lines("# no setup here\n", as_root=False)
