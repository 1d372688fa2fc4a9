"""Is this laptop ready for the workbook? ``nox -s doctor`` runs ``python -m harness.doctor``.

Each check looks at one thing every session needs and gives one line: green when it is
fine, red with what to do on this system. The exit status is 0 only when every line is
green. It takes seconds and no internet (one short request asks whether the package
index answers).

Doctor runs on the Python nox runs on and installs nothing, so that it answers on the very
laptop that cannot install anything yet: the standard library is all it uses (the browser
is driven through chromedriver's HTTP interface, see harness/webdriver_wire.py, and the
page it opens is served by harness/echo_site.py).

The checks read what they look at from a ``Machine``: this one's environment (PATH, the
ports, the package index, CHAT_WHEELHOUSE) by default, one of their own making in the
self-tests.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import ports
from .chromium import CHROMIUM_FLAGS, system_chromium
from .echo_site import echo_site, echoed
from .native_windows import refuse_native_windows
from .stages import REPO_ROOT
from .webdriver_wire import WebDriverError, browser_session, chromedriver

PYTHON_AT_LEAST = (3, 11)
NOX_AT_LEAST = (2026, 10, 20)
"""The nox the README installs: the noxfile uses what it offers."""
PROGRAM_TIMEOUT = 30.0
"""Seconds a program asked for its version, or for a virtual environment, may take."""
PAGE_TIMEOUT = 15.0
"""Seconds the page may take to open its WebSocket and show the echo, once loaded."""
INDEX_TIMEOUT = 5.0
"""Seconds the package index (or a wheelhouse URL) has to answer: it answers in well under
one, so a laptop that waits longer is as good as offline."""
PYPI = "https://pypi.org/simple/"
INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
"""Where uv and pip take another package index from, when one is set."""
DISK_NEEDED_GB = 3.0
"""Free space the workbook needs, with room to spare: the sessions' environments (`nox` makes
a dozen) and the installer's cache come to 1 to 2 GB (uv links one copy of each package into
every environment; pip copies it)."""
PACKAGE_FILES = ("*.whl", "*.tar.gz", "*.zip")
UBUNTU_CHROMIUM = "sudo apt-get install chromium-browser chromium-chromedriver (the snap)"
"""Ubuntu has no chromium or chromium-driver package: these two install Chromium's snap."""
GIGABYTE = 1024**3


@dataclass(frozen=True)
class PortUse:
    """A port the workbook listens on by default, and the variable that chooses another."""

    variable: str
    default: int
    user: str


PORTS = (
    PortUse("DJANGO_PORT", 8000, "Django"),
    PortUse("CHAT_PORT", 1025, "the chat server"),
    PortUse("JUPYTER_PORT", 8888, "JupyterLab"),
)


SYSTEM_NAMES = {"debian": "Debian", "ubuntu": "Ubuntu", "macos": "macOS"}


def this_system() -> str:
    """Which advice this system gets: "debian", "ubuntu" (and its kin), "macos" or "other"."""
    if sys.platform == "darwin":
        return "macos"
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        return "other"
    family = set(" ".join(re.findall(r"^(?:ID|ID_LIKE)=\"?([^\"\n]*)", release, re.M)).split())
    return next((name for name in ("ubuntu", "debian") if name in family), "other")


@dataclass(frozen=True)
class Machine:
    """What the checks look at."""

    environ: Mapping[str, str]
    python: Path = Path(sys.executable)
    """The interpreter nox runs on, and so every session's."""
    python_version: tuple[int, ...] = tuple(sys.version_info[:3])
    system: str = field(default_factory=this_system)
    workbook: Path = REPO_ROOT
    disk_needed_gb: float = DISK_NEEDED_GB

    @property
    def path(self) -> str:
        return self.environ.get("PATH", os.defpath)

    def advice(self, debian: str, macos: str | None = None, ubuntu: str | None = None) -> str:
        """What to do, on this system: ``debian`` on Debian, ``ubuntu`` on Ubuntu, ``macos``
        on macOS (each the same as ``debian`` when not given); each, labelled, elsewhere."""
        by_system = {"debian": debian, "ubuntu": ubuntu or debian, "macos": macos or debian}
        if self.system in by_system:
            return by_system[self.system]
        systems_by_text: dict[str, list[str]] = {}
        for system, text in by_system.items():
            systems_by_text.setdefault(text, []).append(SYSTEM_NAMES[system])
        if len(systems_by_text) == 1:
            return debian
        return "\n".join(
            f"On {' or '.join(systems)}: {text}" for text, systems in systems_by_text.items()
        )


@dataclass(frozen=True)
class Result:
    """One line of doctor's answer."""

    ok: bool
    what: str
    """What was found, in one sentence."""
    advice: str = ""
    """What to do about it, on this system (red lines only)."""


def green(what: str) -> Result:
    return Result(True, what)


def red(what: str, advice: str) -> Result:
    return Result(False, what, advice)


# -- the checks ------------------------------------------------------------------------------


def python_version(machine: Machine) -> Result:
    shown = ".".join(map(str, machine.python_version))
    if machine.python_version[:2] >= PYTHON_AT_LEAST:
        return green(f"Python {shown}, which nox runs every session on")
    return red(
        f"nox runs on Python {shown}; the workbook needs 3.11 or newer",
        machine.advice(
            "sudo apt-get install python3 (Debian 12 has 3.11), then: pipx reinstall "
            "--python python3 nox",
            'brew install python, then: pipx reinstall --python "$(brew --prefix)/bin/python3" nox',
        ),
    )


def nox_and_uv(machine: Machine) -> Result:
    nox = shutil.which("nox", path=machine.path)
    if nox is None:
        return red(
            "nox is not on PATH",
            machine.advice("pipx install nox==2026.10.20, then pipx ensurepath, and open a new "
                           "terminal"),
        )  # fmt: skip
    nox_version = version_of(nox, r"\d+\.\d+\.\d+")
    if nox_version is None or version_tuple(nox_version) < NOX_AT_LEAST:
        least = ".".join(map(str, NOX_AT_LEAST))
        return red(
            f"nox {nox_version or '(version unknown)'} ({nox}) is older than {least}",
            machine.advice(f"pipx install --force nox=={least}, then: pipx inject nox uv==0.13.9"),
        )
    uv = find_uv(machine)
    if uv is None:
        return red(
            f"nox {nox_version} is there, but not uv: every session would install with pip, "
            "several times slower",
            machine.advice("pipx inject nox uv==0.13.9"),
        )
    uv_version = version_of(uv, r"\d+\.\d+\.\d+") or "(version unknown)"
    return green(f"nox {nox_version}, with uv {uv_version} for fast installs")


def virtual_environment(machine: Machine) -> Result:
    uv = find_uv(machine)
    tool = "uv" if uv else "virtualenv"
    with tempfile.TemporaryDirectory(prefix="chat-doctor-") as folder:
        target = Path(folder) / "env"
        if uv:
            command = [uv, "venv", "--quiet", "--python", str(machine.python), str(target)]
        else:
            command = [str(machine.python), "-m", "virtualenv", "--quiet", str(target)]
        made = run_briefly(command)
        python = target / ("Scripts" if os.name == "nt" else "bin") / "python"
        if made.returncode == 0:
            made = run_briefly([str(python), "-c", "import sys; print(sys.prefix)"])
        if made.returncode == 0:
            return green(f"A virtual environment can be made (with {tool}), as nox makes one "
                         "per session")  # fmt: skip
    said = last_line(made.stdout + made.stderr) or f"exit code {made.returncode}"
    return red(
        f"Could not make a virtual environment with {tool}: {said}",
        machine.advice(
            "sudo apt-get install python3-venv, then: pipx reinstall nox",
            "brew reinstall python, then: pipx reinstall nox",
        ),
    )


@dataclass(frozen=True)
class BrowserPair:
    """The Chromium and chromedriver the browser checks would use, and their versions."""

    browser: str | None
    driver: str | None
    browser_version: str | None
    driver_version: str | None

    @property
    def matched(self) -> bool:
        return (
            self.browser_version is not None
            and self.driver_version is not None
            and major(self.browser_version) == major(self.driver_version)
        )


def browser_pair(machine: Machine) -> BrowserPair:
    browser, driver = system_chromium(machine.path)
    version = r"\d+\.\d+\.\d+\.\d+"
    return BrowserPair(
        browser,
        driver,
        version_of(browser, version) if browser else None,
        version_of(driver, version) if driver else None,
    )


def chromium_and_driver(machine: Machine) -> Result:
    pair = browser_pair(machine)
    if pair.browser is None:
        return red(
            "No Chromium or Chrome is installed (none on PATH, none in /Applications)",
            machine.advice(
                "sudo apt-get install chromium chromium-driver",
                "brew install --cask google-chrome chromedriver",
                ubuntu=UBUNTU_CHROMIUM,
            ),
        )
    if pair.browser_version is None:
        return red(
            f"{pair.browser} does not say its version: it may be broken",
            machine.advice("sudo apt-get install --reinstall chromium chromium-driver",
                           "brew reinstall --cask google-chrome",
                           ubuntu=f"{UBUNTU_CHROMIUM}; sudo snap refresh chromium"),
        )  # fmt: skip
    found = f"Chromium {pair.browser_version} ({pair.browser})"
    if pair.driver is None:
        return red(
            f"{found} is installed, but no chromedriver is on PATH",
            machine.advice(
                "sudo apt-get install chromium-driver",
                "brew install --cask chromedriver (else Selenium fetches one at the first check, "
                "which needs the internet)",
                ubuntu=UBUNTU_CHROMIUM,
            ),
        )
    if pair.driver_version is None:
        return red(
            f"{pair.driver} does not say its version: it may be broken, or not allowed to run",
            machine.advice(
                "sudo apt-get install --reinstall chromium-driver",
                'let macOS run it: xattr -d com.apple.quarantine "$(which chromedriver)"',
                ubuntu=f"{UBUNTU_CHROMIUM}; sudo snap refresh chromium",
            ),
        )
    if not pair.matched:
        return red(
            f"chromedriver {pair.driver_version} ({pair.driver}) does not match {found}: the "
            "checks need the same major version",
            machine.advice(
                "sudo apt-get install chromium chromium-driver (they update together); remove "
                f"{pair.driver} if apt did not install it",
                "brew upgrade --cask google-chrome chromedriver; remove "
                f"{pair.driver} if brew did not install it",
                ubuntu=f"sudo snap refresh chromium; remove {pair.driver} if it is not "
                "/usr/bin/chromedriver",
            ),
        )
    if pair.driver_version == pair.browser_version:
        return green(f"Chromium and chromedriver {pair.driver_version}, the same version")
    return green(f"{found} and chromedriver {pair.driver_version}, the same major version")


def headless_browser(machine: Machine) -> Result:
    pair = browser_pair(machine)
    if not pair.matched:
        return red(
            "A headless browser: not tried, for want of Chromium and a chromedriver of its version",
            "Fix the line above first.",
        )
    assert pair.browser is not None and pair.driver is not None
    word = secrets.token_hex(8)
    advice = machine.advice(
        f"See why it does not start: {pair.browser} --headless=new --no-sandbox --dump-dom "
        "about:blank",
        "Open Chrome once by hand (macOS asks whether to allow it), then run doctor again",
    )
    step = "chromedriver did not start"
    try:
        with (
            tempfile.TemporaryDirectory(prefix="chat-doctor-") as folder,
            echo_site(word) as site,
            chromedriver(pair.driver, Path(folder) / "chromedriver.log") as base,
        ):
            step = "Headless Chromium did not start"
            flags = [*CHROMIUM_FLAGS, f"--user-data-dir={Path(folder) / 'profile'}"]
            with browser_session(base, pair.browser, flags) as session:
                step = "Headless Chromium stopped answering"
                session.go(site.url)
                shown = page_result(session.run_script, echoed(word))
    except (WebDriverError, OSError) as error:
        return red(f"{step}: {error}", advice)
    if shown != echoed(word):
        return red(
            f"Headless Chromium opened a page on this machine, but {shown}",
            machine.advice(
                "Check that nothing (a proxy setting, a firewall) stands between Chromium and "
                "127.0.0.1"
            ),
        )
    return green("Headless Chromium runs JavaScript and WebSockets (a local echo answered)")


def page_result(run_script: Callable[[str], object], wanted: str) -> str:
    """What the page shows: ``wanted`` once the echo came, else, after PAGE_TIMEOUT, what
    went wrong, in words. (harness/waits.py needs Selenium, which doctor runs without.)"""
    deadline = time.monotonic() + PAGE_TIMEOUT
    shown = ""
    while time.monotonic() < deadline:
        shown = str(run_script("return document.getElementById('result').textContent"))
        if shown == wanted or "failed" in shown:
            break
        time.sleep(0.1)
    return {
        wanted: wanted,
        "JavaScript did not run.": "its JavaScript did not run",
        "connecting": f"its WebSocket to a local server did not open within {PAGE_TIMEOUT:g} s",
    }.get(shown, f"its WebSocket to a local server failed (the page says: {shown!r})")


def free_ports(machine: Machine) -> Result:
    problems = []
    taken = []
    chosen = []
    for use in PORTS:
        text = machine.environ.get(use.variable, str(use.default))
        if not text.isdigit() or not 0 < int(text) < 65536:
            problems.append(f"{use.variable}={text!r} is not a port number (1 to 65535).")
            continue
        chosen.append(f"{text} ({use.user})")
        problem = ports.listen_problem("127.0.0.1", int(text))
        if problem is not None:
            problems.append(f"{problem.text} The workbook wants it for {use.user}.")
            taken.append(use)
    if not problems:
        return green(f"Ports {', '.join(chosen)} are free")
    if not taken:
        return red(" ".join(problems), "Set it to a port number, or unset it.")
    others = " ".join(f"{use.variable}=..." for use in taken)
    expected = " and ".join(str(use.default) for use in taken)
    return red(
        " ".join(problems),
        f"Stop that program, or choose another port for every command with {others} (the "
        f"chapters' links say {expected}).",
    )


def free_disk(machine: Machine) -> Result:
    free = shutil.disk_usage(machine.workbook).free / GIGABYTE
    if free >= machine.disk_needed_gb:
        return green(f"{free:.0f} GB free for the sessions' environments ({machine.workbook})")
    return red(
        f"Only {free:.1f} GB free where the workbook is ({machine.workbook}); its environments "
        f"and package cache need about {machine.disk_needed_gb:g} GB",
        machine.advice(
            "Free some space (sudo apt-get clean; the .nox folders of old copies of the "
            "workbook), or move the workbook to a disk with room",
            "Free some space (System Settings, General, Storage), or move the workbook to a "
            "disk with room",
        ),
    )


def packages(machine: Machine) -> Result:
    wheelhouse = machine.environ.get("CHAT_WHEELHOUSE", "").strip()
    if wheelhouse:
        return wheelhouse_packages(machine, wheelhouse)
    index = next((machine.environ[v] for v in INDEX_VARIABLES if machine.environ.get(v)), PYPI)
    problem = does_not_answer(index)
    if problem is None:
        return green(f"The package index answers ({index}): sessions can install")
    return red(
        f"The package index ({index}) does not answer ({problem}), and there is no wheelhouse: "
        "a session whose environment is not made yet cannot install its packages",
        machine.advice(
            "Connect to the internet, or set CHAT_WHEELHOUSE to the instructor's wheelhouse "
            "(a folder, or an http:// address)"
        ),
    )


def wheelhouse_packages(machine: Machine, wheelhouse: str) -> Result:
    """CHAT_WHEELHOUSE: a folder of packages, or the address of one on the room's network."""
    named = f"CHAT_WHEELHOUSE={wheelhouse}"
    if wheelhouse.startswith(("http://", "https://")):
        problem = does_not_answer(wheelhouse)
        if problem is None:
            return green(f"The wheelhouse answers ({wheelhouse}): sessions install from it")
        return red(
            f"The wheelhouse does not answer ({problem}): {named}",
            machine.advice(
                "Join the room's network and check the address with the instructor, or unset "
                "CHAT_WHEELHOUSE to install from the internet"
            ),
        )
    folder = Path(wheelhouse).expanduser()
    found = [path for pattern in PACKAGE_FILES for path in folder.glob(pattern)]
    if found:
        return green(f"The wheelhouse {folder} holds {len(found)} packages: sessions install "
                     "from it")  # fmt: skip
    what = "holds no packages" if folder.is_dir() else "is not a folder"
    return red(
        f"The wheelhouse {what}: {named}",
        machine.advice(
            "Copy the instructor's wheelhouse folder there (they make it with nox -s "
            "wheelhouse), or unset CHAT_WHEELHOUSE to install from the internet"
        ),
    )


CHECKS: tuple[Callable[[Machine], Result], ...] = (
    python_version,
    nox_and_uv,
    virtual_environment,
    chromium_and_driver,
    headless_browser,
    free_ports,
    free_disk,
    packages,
)


# -- helpers -------------------------------------------------------------------------------


def find_uv(machine: Machine) -> str | None:
    """The uv nox would use: $UV; else one beside nox's Python (``pipx inject nox uv``);
    else one on PATH."""
    named = machine.environ.get("UV")
    if named:
        return shutil.which(named, path=machine.path)
    beside = shutil.which("uv", path=str(machine.python.parent))
    return beside or shutil.which("uv", path=machine.path)


def run_briefly(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``command``; a program that does not end within PROGRAM_TIMEOUT counts as failed."""
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=PROGRAM_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 1, "", f"no answer in {PROGRAM_TIMEOUT:g} s")
    except OSError as error:
        return subprocess.CompletedProcess(command, 1, "", str(error))


def version_of(program: str, pattern: str) -> str | None:
    """The version ``program --version`` prints (the first match of ``pattern``), or None."""
    answer = run_briefly([program, "--version"])
    found = re.search(pattern, answer.stdout) or re.search(pattern, answer.stderr)
    return found.group() if answer.returncode == 0 and found else None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def major(version: str) -> int:
    return version_tuple(version)[0]


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else ""


def does_not_answer(url: str) -> str | None:
    """None if ``url`` answers a HEAD request within INDEX_TIMEOUT; else why not, in words."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT):
            return None
    except urllib.error.HTTPError as error:
        return f"it said {error.code} {error.reason}"
    except urllib.error.URLError as error:
        return str(error.reason)
    except (OSError, ValueError) as error:
        return str(error) or type(error).__name__


# -- the report ------------------------------------------------------------------------------

GREEN = "\033[32m"
RED = "\033[31m"
PLAIN = "\033[0m"
WIDTH = 100
"""The widest doctor's lines get, however wide the terminal (they wrap at its width)."""


def wrap(text: str, width: int, first: str, then: str) -> str:
    """``text`` in lines of ``width`` columns at most, but never a command or a path cut."""
    return textwrap.fill(
        text, width, initial_indent=first, subsequent_indent=then,
        break_long_words=False, break_on_hyphens=False,
    )  # fmt: skip


def render(result: Result, colour: bool, width: int = WIDTH) -> str:
    """The result's line (and its advice, indented below it), wrapped at ``width`` columns,
    coloured for a terminal."""
    mark, tint = ("ok", GREEN) if result.ok else ("!!", RED)
    line = wrap(result.what, width, first=f"  {mark}  ", then=" " * 6)
    if colour:
        line = f"{tint}{line}{PLAIN}"
    advice = [
        wrap(part, width, first="      → ", then=" " * 8) for part in result.advice.splitlines()
    ]
    return "\n".join([line, *advice])


def run(machine: Machine, out: TextIO, colour: bool, width: int = WIDTH) -> int:
    """Run every check, print its line as it comes, and return the exit status."""
    print("Is this laptop ready for the workbook?\n", file=out, flush=True)
    failed = 0
    for check in CHECKS:
        result = check(machine)
        failed += not result.ok
        print(render(result, colour, width), file=out, flush=True)
    if failed:
        summary = f"{failed} of {len(CHECKS)} checks failed: do what their lines say, then run "
        summary += "`nox -s doctor` again."
    else:
        summary = f"All {len(CHECKS)} checks passed: this laptop is ready."
    if colour:
        summary = f"{RED if failed else GREEN}{summary}{PLAIN}"
    print(f"\n{summary}", file=out)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    refuse_native_windows("nox -s doctor")
    parser = argparse.ArgumentParser(prog="nox -s doctor --", description=__doc__.split("\n")[0])
    parser.parse_args(argv)  # no options: --help, and a plain refusal of anything else
    width = min(shutil.get_terminal_size().columns, WIDTH)
    return run(Machine(os.environ), sys.stdout, colour=sys.stdout.isatty(), width=width)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
