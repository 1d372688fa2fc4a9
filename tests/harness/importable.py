"""Can the stage's own Python code be read and imported? Said once, with the file and line.

A syntax error in one file, or a module a chapter has not written yet, would otherwise make
every check that imports the stage's code fail on its own, each with the same message, and
the servers fail to start besides. The preflight asks here first, so that the one failure
names the file, the line and what Python said.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})


def python_files(folder: Path) -> Iterator[Path]:
    """The project's own Python files (``.py``, and twistd's ``.tac``): not those of a virtual
    environment, a hidden folder or a cache that a learner's folder may hold too."""
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            hidden = entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS
            if not hidden and not (entry / "pyvenv.cfg").exists():
                yield from python_files(entry)
        elif entry.suffix in (".py", ".tac"):
            yield entry


def syntax_problem(folder: Path) -> str | None:
    """The first file in ``folder`` that Python cannot read, said with its line; or None."""
    for path in python_files(folder):
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            compile(source, str(path), "exec", dont_inherit=True)
        except SyntaxError as error:
            where = path.relative_to(folder)
            shown = ""
            if error.text:
                caret = " " * max((error.offset or 1) - 1, 0) + "^"
                shown = f"\n    {error.text.rstrip()}\n    {caret}"
            return (
                f"{where}, line {error.lineno}: {error.msg}.{shown}\nPython cannot read this "
                "file, so nothing that imports it can run. Fix it first (the line Python names "
                "is where it gave up: the mistake may be just before, such as a bracket or "
                "quote left open)."
            )
    return None


def import_problem(folder: Path, modules: list[str]) -> str | None:
    """The first of ``modules`` that cannot be imported from ``folder``, in plain words."""
    sys.path.insert(0, str(folder))
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as error:
                if error.name is not None and error.name.split(".")[0] in top_names(modules):
                    missing = Path(*error.name.split("."))
                    return (
                        f"{name} could not be imported: your folder has no {missing}.py (or "
                        f"{missing}/__init__.py) yet. The checks of this stage import "
                        f"{', '.join(modules)}; write the missing file as the chapter shows."
                    )
                return f"{name} could not be imported: {error}."
            except Exception as error:  # whatever it is, where it happened is what helps
                return f"{name} could not be imported. {where_it_happened(error, folder)}"
    finally:
        sys.path.remove(str(folder))
    return None


def top_names(modules: list[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def where_it_happened(error: BaseException, folder: Path) -> str:
    """The last line of the learner's own code the error passed through, and the error."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(folder.resolve())
    ]
    said = f"{type(error).__name__}: {error}"
    if not frames:
        return said
    last = frames[-1]
    where = Path(last.filename).resolve().relative_to(folder.resolve())
    return f"{where}, line {last.lineno}, in {last.name}:\n    {last.line}\n{said}"
