"""`nox -s lab` runs for root (with --allow-root) and for everyone else (without it)."""

from __future__ import annotations

from harness.lab import lab_address, lab_command


def test_root_gets_allow_root_and_nobody_else_does() -> None:
    as_root = lab_command(port=8888, token="t", as_root=True, extra=[])
    as_user = lab_command(port=8888, token="t", as_root=False, extra=["--no-browser"])
    assert "--allow-root" in as_root and "--allow-root" not in as_user
    assert as_user[-1] == "--no-browser", "arguments after -- reach JupyterLab"


def test_the_printed_address_is_the_one_the_server_listens_on() -> None:
    command = lab_command(port=9123, token="abc", as_root=False, extra=[])
    assert "--port=9123" in command and "--port-retries=0" in command
    assert "--IdentityProvider.token=abc" in command
    assert lab_address(9123, "abc") == "http://localhost:9123/lab?token=abc"
