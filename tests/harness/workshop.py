"""Run the room's server for a workshop day: ``python -m harness.workshop`` (what
``nox -s workshop`` calls).

The newest main-line stage, as ``nox -s serve`` runs it (harness/serve.py), listening on
every interface, with sign-up open, a few rooms, and the instructor's board at /board/
(harness/board/) behind the admin login. Before the day, ``--accounts 40`` makes accounts
and a sheet of their passwords to hand out; between two sessions, ``--reset`` removes the
messages, the reports and the logins, and keeps the accounts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from . import ports, room, serve
from .processes import StageError, StageProcesses
from .stages import NEWEST, REPO_ROOT

CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""The workshop code's letters: none that is easily mistaken for another (0 O, 1 I)."""
CODE_LENGTH = 6
PASSWORD_LETTERS = "abcdefghjkmnpqrstuvwxyz23456789"
ACCOUNT_PREFIX = "learner"
MOST_ACCOUNTS = 500
SHEET = "accounts.txt"
CUT = "- " * 30
TESTS = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s workshop --", description=__doc__)
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--accounts",
        type=int,
        metavar="N",
        help="make accounts learner01 to learnerN (those not on the sheet yet), print the "
        "sheet of names and passwords, and stop",
    )
    what.add_argument(
        "--reset",
        action="store_true",
        help="remove every message, report and login, keep the accounts and rooms, and stop",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument(
        "--public-name",
        help="the host name or IP people type in their browsers (default: this machine's "
        "address on the local network)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=REPO_ROOT / ".serve" / "workshop",
        help="where the database, the code and the accounts sheet go (default: .serve/workshop)",
    )
    args = parser.parse_args(argv)
    if args.accounts is not None and not 1 <= args.accounts <= MOST_ACCOUNTS:
        parser.error(f"--accounts takes a number from 1 to {MOST_ACCOUNTS}")
    args.stage = NEWEST.name
    args.room = True  # serve's room: deployed, every name of this machine allowed
    args.stage_dir = None
    args.processes = None  # one process: the newest stage that needs no servers of its own
    return args


def workshop_code(data_dir: Path) -> str:
    """The workshop's short code: made once, and kept with its data (learners opted in with it)."""
    kept = data_dir / "code.txt"
    if kept.is_file() and kept.read_text().strip():
        return kept.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
    kept.write_text(code + "\n")
    return code


def board_env(code: str) -> dict[str, str]:
    """The settings that add the board to the stage (harness/board/settings.py)."""
    return {
        "DJANGO_SETTINGS_MODULE": "harness.board.settings",
        "PYTHONPATH": os.pathsep.join([str(NEWEST.path), str(TESTS)]),
        "WORKSHOP_CODE": code,
    }


def read_sheet(path: Path) -> dict[str, str]:
    """The accounts on the sheet: name -> password."""
    accounts = {}
    if path.is_file():
        name = None
        for line in path.read_text().splitlines():
            label, _, value = line.strip().partition(" ")
            if label == "user":
                name = value.strip()
            elif label == "password" and name:
                accounts[name] = value.strip()
    return accounts


def write_sheet(path: Path, accounts: dict[str, str], address: str) -> str:
    """Write the sheet, one slip per account to cut out and hand over; return its text."""
    lines = [f"Workshop accounts: log in at {address} (cut along the dashed lines)", ""]
    for name in sorted(accounts):
        lines += [CUT, "", f"  user       {name}", f"  password   {accounts[name]}", ""]
    lines.append(CUT)
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def make_accounts(site: StageProcesses, count: int, address: str) -> str:
    """Accounts learner01..learnerN: those not on the sheet yet get a password and go on it."""
    sheet = site.workdir / SHEET
    accounts = read_sheet(sheet)
    width = max(2, len(str(count)))
    wanted = [f"{ACCOUNT_PREFIX}{n:0{width}d}" for n in range(1, count + 1)]
    new = {
        name: "".join(secrets.choice(PASSWORD_LETTERS) for _ in range(8))
        for name in wanted
        if name not in accounts
    }
    if new:
        site.prepare()  # the database, migrated, before anyone is put in it
        site.django_shell(
            "import os; from django.contrib.auth import get_user_model\n"
            "for pair in os.environ['ACCOUNTS'].split('|'):\n"
            "    name, password = pair.split(':')\n"
            "    user, _ = get_user_model().objects.get_or_create(username=name)\n"
            "    user.set_password(password)\n"
            "    user.save()\n",
            ACCOUNTS="|".join(f"{name}:{password}" for name, password in new.items()),
        )
        print(f"Made {len(new)} account{'s' if len(new) != 1 else ''}.")
    return write_sheet(sheet, {**accounts, **new}, address)


def reset(site: StageProcesses) -> str:
    """Remove every message, report and login; keep accounts and rooms. Say what went."""
    # No braces in the code: django_shell's commands are format templates (processes.py).
    return site.django_shell(
        "from chat.models import Message\n"
        "from django.contrib.sessions.models import Session\n"
        "from harness.board.models import Report\n"
        "removed = [model.objects.all().delete()[0] for model in (Message, Report, Session)]\n"
        "print('Removed %d messages, %d reports and %d logins; the accounts and rooms are "
        "kept.' % tuple(removed))\n"
    ).strip()


def board_notes(code: str, sheet: Path) -> serve.Notes:
    """What the instructor needs once the site runs: the board, the code, the opt-in."""

    def notes(site: StageProcesses, pages: str) -> list[str]:
        site.django_shell("from harness.board.nudge import board_room; board_room()")
        accounts = read_sheet(sheet)
        made = (
            f"{len(accounts)}, on the sheet {sheet}"
            if accounts
            else "none made yet (nox -s workshop -- --accounts 40); sign-up is open"
        )
        return [
            f"Board:       {pages}/board/ (log in as admin)",
            f"Code:        {code}",
            f"Opt in:      nox -s part1 -- --report {pages}/?code={code} --report-name NAME",
            f"Accounts:    {made}",
        ]

    return notes


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    code = workshop_code(args.data_dir)
    env = board_env(code)
    port = serve.port_from_env("site", NEWEST.processes[0].port_env)
    address = f"http://{room.address_to_give(args.public_name)}:{port}/"
    site = StageProcesses(NEWEST, NEWEST.path, args.data_dir, host=args.host, env=env)
    try:
        if args.accounts is not None:
            print(make_accounts(site, args.accounts, address))
            print(f"The sheet is in {args.data_dir / SHEET}, ready to print.")
            return 0
        if args.reset:
            if not site.database.exists():
                print(f"Nothing to reset: there is no workshop database in {args.data_dir}.")
                return 0
            if ports.listen_problem(args.host, port) is not None:
                print(f"Something listens on port {port}: stop the workshop server (Ctrl-C) "
                      "before resetting it.", file=sys.stderr)  # fmt: skip
                return 1
            print(reset(site))
            return 0
    except StageError as problem:
        print(f"Could not prepare the workshop's database: {problem}", file=sys.stderr)
        return 1
    serve.stop_on_signals()
    try:
        return serve.serve(args, env, board_notes(code, args.data_dir / SHEET))
    except serve.Stop:
        print("\nStopped: every server is down.", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
