"""On native Windows, `nox -s serve`, `nox -s lab` and `nox -s doctor` say in plain words to
use WSL 2, before they reach a signal or a call Windows does not have."""

from __future__ import annotations

import pytest

from harness import doctor, native_windows, serve


@pytest.fixture
def on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_windows, "PLATFORM", "win32")


def test_native_windows_is_told_to_use_wsl_2(on_windows: None) -> None:
    refusal = native_windows.refusal("nox -s lab")
    assert refusal is not None and "`nox -s lab` does not run on native Windows" in refusal
    assert "WSL 2" in refusal and "wsl --install -d Ubuntu-24.04" in refusal


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_linux_and_macos_are_let_through(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    monkeypatch.setattr(native_windows, "PLATFORM", platform)
    assert native_windows.refusal("nox -s serve") is None
    native_windows.refuse_native_windows("nox -s serve")  # returns: nothing to refuse


def test_serve_refuses_before_it_starts_anything(
    on_windows: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def went_on(argv: list[str]) -> None:
        raise AssertionError("serve went past its Windows guard and read its arguments")

    monkeypatch.setattr(serve, "parse_args", went_on)
    with pytest.raises(SystemExit, match=r"`nox -s serve` does not run on native Windows"):
        serve.main(["part1"])


def test_doctor_refuses_before_it_checks_anything(
    on_windows: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def went_on(*args: object) -> int:
        raise AssertionError("doctor went past its Windows guard and ran its checks")

    monkeypatch.setattr(doctor, "run", went_on)
    with pytest.raises(SystemExit, match=r"`nox -s doctor` does not run on native Windows"):
        doctor.main([])
