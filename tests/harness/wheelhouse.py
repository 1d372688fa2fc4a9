"""Fill a wheelhouse: every pinned requirement, for this machine and the room's others.

    python -m harness.wheelhouse DIR --requirements FILE... [--pin NAME==VERSION...] [--here-only]

``nox -s wheelhouse -- DIR`` runs it with every requirements file of the workbook; it needs
PyPI, so run it before the workshop. For each target (this machine; then Linux x86_64 and
aarch64, macOS arm64 and x86_64, each for CPython 3.11 to 3.13) uv resolves the requirements
as that machine would (with its markers: on macOS ipykernel needs appnope, say), and pip
downloads the wheel of each resolved version for that target. A package with no such wheel
whose sdist is pure Python is built here into a wheel that fits every target; one that
would need compiling is reported, since such laptops will need PyPI for it.

The result is one flat folder, what ``--find-links`` takes, not a PEP 503 "simple" index:
pip writes it as it is, ``python3 -m http.server`` lists it as a page that pip and uv both
read, and a file added by hand needs no index rebuilt.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .package_source import PIN, VARIABLE, distribution_of, normalized

PYTHONS = ("3.11", "3.12", "3.13")
NEWEST_GLIBC = 28
"""manylinux_2_28: glibc 2.28 or newer, which every Linux a laptop runs today has (Debian 10,
Ubuntu 20.04 and later)."""
NO_DISTRIBUTION = re.compile(r"No matching distribution found for (?P<pin>\S+)")
"""What pip says when a package has no file for the target."""


def manylinux(arch: str) -> tuple[str, ...]:
    """Every manylinux tag up to NEWEST_GLIBC: pip takes only the tags it is given."""
    newest_first = range(NEWEST_GLIBC, 4, -1)
    return (*(f"manylinux_2_{minor}_{arch}" for minor in newest_first), f"manylinux2014_{arch}")


@dataclass(frozen=True)
class Target:
    label: str
    uv_platform: str | None
    """uv's name for the platform; None for this machine."""
    pip_platforms: tuple[str, ...]
    """pip's platform tags (macOS tags include every older macOS)."""
    pythons: tuple[str, ...]


HERE = Target("this machine", None, (), (f"{sys.version_info.major}.{sys.version_info.minor}",))
ELSEWHERE = (
    Target("Linux x86_64", "x86_64-manylinux_2_28", manylinux("x86_64"), PYTHONS),
    Target("Linux aarch64", "aarch64-manylinux_2_28", manylinux("aarch64"), PYTHONS),
    Target("macOS arm64", "aarch64-apple-darwin", ("macosx_15_0_arm64",), PYTHONS),
    Target("macOS x86_64", "x86_64-apple-darwin", ("macosx_15_0_x86_64",), PYTHONS),
)


class BuildError(Exception):
    """A step that cannot go on, said in one line."""


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {result.returncode}"


def resolve(target: Target, python: str, requirements: list[Path], into: Path) -> list[str]:
    """Every package, pinned, that ``requirements`` need on ``target`` with ``python``."""
    output = into / f"{target.label}-{python}.txt".replace(" ", "-")
    command = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header",
               "--no-annotate", "--output-file", str(output), *map(str, requirements)]  # fmt: skip
    if target.uv_platform is None:
        command += ["--python", sys.executable]
    else:
        command += ["--python-platform", target.uv_platform, "--python-version", python]
    result = run(command)
    if result.returncode != 0:
        raise BuildError(f"uv could not resolve the requirements for {target.label}, "
                         f"Python {python}: {last_line(result)}")  # fmt: skip
    return [line.strip() for line in output.read_text().splitlines() if PIN.match(line)]


def download(target: Target, python: str, pins: list[str], folder: Path) -> list[str]:
    """Download a wheel of each pin for the target; return the pins that have none."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--dest", str(folder)]  # fmt: skip
    if target.uv_platform is not None:
        command += ["--implementation", "cp", "--python-version", python]
        for platform in target.pip_platforms:
            command += ["--platform", platform]
    remaining, missing = list(pins), []
    while remaining:
        result = run(command + remaining)
        if result.returncode == 0:
            break
        lacking = NO_DISTRIBUTION.search(result.stderr)
        if lacking is None or lacking["pin"] not in remaining:
            raise BuildError(f"pip could not download for {target.label}, Python {python}: "
                             f"{last_line(result)}")  # fmt: skip
        remaining.remove(lacking["pin"])
        missing.append(lacking["pin"])
    return missing


def pure_python_wheel(pin: str, folder: Path, scratch: Path) -> bool:
    """Build the sdist of ``pin`` into a wheel, kept in ``folder`` if it is pure Python.

    Tried only for a project that has no wheel in the folder yet: one that publishes wheels
    for some platforms compiles code, and its sdist would not make a wheel for every target.
    """
    match = PIN.match(pin)
    assert match is not None
    name, version = normalized(match["name"]), match["version"]
    if any(distribution_of(file.name) == (name, version) for file in folder.iterdir()):
        return False
    built = scratch / "built"
    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary=:all:",
                  "--wheel-dir", str(built), pin])  # fmt: skip
    wheels = [file for file in built.glob("*.whl") if distribution_of(file.name) == (name, version)]
    if result.returncode != 0 or not wheels or not wheels[0].name.endswith("-none-any.whl"):
        return False
    shutil.copy2(wheels[0], folder / wheels[0].name)
    return True


def fill(
    folder: Path, requirements: list[Path], targets: tuple[Target, ...]
) -> dict[str, list[str]]:
    """Fill ``folder``; return the pins no wheel could be had for, and where: ``{pin:
    ["macOS x86_64 3.11", ...]}``."""
    unavailable: dict[str, list[str]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as scratch:
        for target in targets:
            for python in target.pythons:
                print(f"  {target.label}, Python {python}", flush=True)
                pins = resolve(target, python, requirements, Path(scratch))
                for pin in download(target, python, pins, folder):
                    if not pure_python_wheel(pin, folder, Path(scratch)):
                        unavailable[pin].append(f"{target.label} {python}")
    return dict(unavailable)


def summary(folder: Path, unavailable: dict[str, list[str]]) -> list[str]:
    files = [file for file in folder.iterdir() if distribution_of(file.name)]
    megabytes = sum(file.stat().st_size for file in files) / 1e6
    lines = [f"The wheelhouse {folder} holds {len(files)} files, {megabytes:.0f} MB."]
    if unavailable:
        lines.append("No wheel exists of these for some laptops; those need PyPI for them:")
        lines += [f"  {pin}: {', '.join(where)}" for pin, where in sorted(unavailable.items())]
    lines += [
        "Serve it to the room:  python3 -m http.server -d " + str(folder),
        f"and on each laptop:    export {VARIABLE}=http://ADDRESS-OF-THIS-LAPTOP:8000/",
        f"(or copy the folder and set {VARIABLE} to its path).",
    ]
    return lines


def with_pins(requirements: list[Path], pins: list[str], scratch: Path) -> list[Path]:
    """The requirements files, and one more holding the pins given on the command line."""
    if not pins:
        return requirements
    extra = scratch / "pins.txt"
    extra.write_text("".join(f"{pin}\n" for pin in pins))
    return [*requirements, extra]


def main(argv: list[str] | None = None) -> int:
    summary_line = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="nox -s wheelhouse --", description=summary_line)
    parser.add_argument("folder", type=Path, help="where the wheels go (made if missing)")
    parser.add_argument("--requirements", "-r", type=Path, action="append", default=[],
                        help="a requirements file (again for more)")  # fmt: skip
    parser.add_argument("--pin", action="append", default=[], help="one more NAME==VERSION")
    parser.add_argument("--here-only", action="store_true",
                        help="only for this machine, not for the room's other kinds")  # fmt: skip
    arguments = parser.parse_args(argv)
    folder: Path = arguments.folder.expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        parser.error(f"{folder} is a file; name a folder for the wheelhouse")
    for file in arguments.requirements:
        if not file.is_file():
            parser.error(f"there is no requirements file {file}")
    folder.mkdir(parents=True, exist_ok=True)
    targets = (HERE,) if arguments.here_only else (HERE, *ELSEWHERE)
    print(f"Filling {folder} for:", flush=True)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-pins-") as scratch:
        requirements = with_pins(arguments.requirements, arguments.pin, Path(scratch))
        try:
            unavailable = fill(folder, requirements, targets)
        except BuildError as error:
            print(f"The wheelhouse is not complete: {error}", file=sys.stderr)
            return 1
    print("\n".join(summary(folder, unavailable)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
