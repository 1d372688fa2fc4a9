"""How long the checks take: ``nox -s timings`` (``-- part2 harness`` for some sessions only).

Runs each verifying nox session three ways, one after another, and prints a table:
- cold: in a new virtual environment (packages come from the installer's local cache);
- warm: again, reusing that environment, as a learner does after every step;
- quick: warm, with ``-- --quick`` (stage sessions only).
The machine should be otherwise idle: the figures are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from .stages import REPO_ROOT, STAGES

OTHER_SESSIONS = ("harness", "tutorial", "lint")


def seconds_for(session: str, *extra: str) -> float | None:
    """Wall-clock seconds ``nox -s session`` took, or None if it failed."""
    command = [sys.executable, "-m", "nox", "-s", session, *extra]
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    if result.returncode != 0:
        print(f"  {session} failed; its last lines:\n{result.stdout[-2000:]}", file=sys.stderr)
        return None
    return took


def shown(seconds: float | None) -> str:
    return "failed" if seconds is None else f"{seconds:.0f} s"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s timings --", description=__doc__)
    parser.add_argument("sessions", nargs="*", default=[*STAGES, *OTHER_SESSIONS])
    sessions = parser.parse_args(argv).sessions

    rows = []
    total_cold = 0.0
    for session in sessions:
        print(f"timing {session} ...", file=sys.stderr, flush=True)
        cold = seconds_for(session, "--reuse-venv=never")
        warm = seconds_for(session, "--reuse-venv=yes")
        quick = (
            seconds_for(session, "--reuse-venv=yes", "--", "--quick") if session in STAGES else None
        )
        total_cold += cold or 0.0
        rows.append((session, shown(cold), shown(warm), shown(quick) if session in STAGES else ""))

    print("\n| session | cold | warm | warm --quick |\n| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"| all of them, cold | {total_cold / 60:.1f} min | | |")
    return 0 if all("failed" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
