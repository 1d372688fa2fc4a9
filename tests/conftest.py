"""The shared suite's wiring: which stage to check, its running servers, its browsers.

    pytest tests/stage_checks --stage part2                     # the reference snapshot
    pytest tests/stage_checks --stage part2 --stage-dir ~/mine  # your own folder

Every check says which features it needs (``@pytest.mark.needs("websocket")``); checks for
features the stage does not have yet are deselected, so part3 runs part2's checks too.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from harness import admin, waits
from harness.artefacts import folder_for, save_all
from harness.browser import Browsers
from harness.processes import SiteWith, StageError, StageProcesses
from harness.stages import REPO_ROOT, STAGES, Stage

sys.dont_write_bytecode = True  # importing a stage's code must not write into its folder


@dataclass(frozen=True)
class ChosenStage:
    """The stage being checked and the folder its code is read from."""

    stage: Stage
    path: Path

    @property
    def is_reference(self) -> bool:
        return self.path.resolve() == self.stage.path.resolve()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chat workbook")
    group.addoption(
        "--stage", choices=sorted(STAGES), help="which stage's checks to run (part1, part2, ...)"
    )
    group.addoption(
        "--stage-dir",
        type=Path,
        help="check this folder instead of the reference snapshot (e.g. your own project)",
    )
    group.addoption(
        "--artefacts",
        type=Path,
        default=REPO_ROOT / "test-artefacts",
        help="where screenshots, page HTML and logs of failed checks go",
    )
    group.addoption(
        "--max-wait", type=float, help="seconds a browser check waits for something to happen"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*features): the stage features this check needs")
    if config.getoption("--max-wait"):
        waits.set_max_wait(config.getoption("--max-wait"))


def chosen_stage_of(config: pytest.Config) -> ChosenStage | None:
    name = config.getoption("--stage")
    folder = config.getoption("--stage-dir")
    if name is None:
        if folder is not None:
            raise pytest.UsageError(
                "--stage-dir needs --stage too, to say which stage your folder should match, "
                "e.g. --stage part1 --stage-dir ~/django-twisted-chat"
            )
        return None
    stage = STAGES[name]
    path = (folder or stage.path).expanduser().resolve()
    if not path.is_dir():
        raise pytest.UsageError(f"--stage-dir {path} is not a folder")
    if not (path / "manage.py").is_file():
        raise pytest.UsageError(
            f"{path} has no manage.py. Point --stage-dir at your project folder: the one "
            "that holds manage.py."
        )
    return ChosenStage(stage, path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = chosen_stage_of(config)
    keep, drop = [], []
    for item in items:
        needs = {feature for mark in item.iter_markers("needs") for feature in mark.args}
        if not needs:
            keep.append(item)
        elif chosen is None:
            raise pytest.UsageError(
                f"{item.nodeid} checks a stage: say which one, e.g. --stage part1 "
                "(or run `nox -s part1`, which does)"
            )
        elif needs <= chosen.stage.features:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str | None:
    chosen = chosen_stage_of(config)
    if chosen is None:
        return None
    whose = "reference snapshot" if chosen.is_reference else "your folder"
    features = ", ".join(sorted(chosen.stage.features))
    return f"stage {chosen.stage.name} ({features}) from {chosen.path} ({whose})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """When a check fails, save what its browsers and servers show, and say where."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        things = list(getattr(item, "funcargs", {}).values())
        folder = folder_for(item.config.getoption("--artefacts"), item.nodeid)
        saved = save_all(things, folder)
        if saved:
            listing = "\n".join(f"  {path}" for path in saved)
            report.sections.append(("artefacts", f"saved for you to look at:\n{listing}"))
    return report


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chosen_stage(pytestconfig: pytest.Config) -> ChosenStage:
    chosen = chosen_stage_of(pytestconfig)
    assert chosen is not None, "stage checks run with --stage"
    return chosen


def start_site(
    chosen: ChosenStage, workdir: Path, settings: Mapping[str, str] | None = None
) -> StageProcesses:
    site = StageProcesses(chosen.stage, chosen.path, workdir, env=settings)
    try:
        site.start()
        site.create_superuser(admin.USERNAME, admin.PASSWORD)
    except StageError as problem:
        site.stop()
        with_settings = f" with {dict(settings)}" if settings else ""
        pytest.fail(f"The stage could not be started{with_settings}. {problem}", pytrace=False)
    return site


@pytest.fixture(scope="session")
def import_from_stage(chosen_stage: ChosenStage) -> Iterator[Callable[[str], ModuleType]]:
    """Import the stage's own code in this process: ``import_from_stage("chatserver.protocol")``."""
    sys.path.insert(0, str(chosen_stage.path))

    def load(name: str) -> ModuleType:
        try:
            return importlib.import_module(name)
        except ImportError as error:
            pytest.fail(
                f"Could not import {name} from {chosen_stage.path}: {error}. Check that the "
                f"file exists and that its folder has an __init__.py.",
                pytrace=False,
            )

    yield load
    sys.path.remove(str(chosen_stage.path))


@pytest.fixture(scope="session")
def site(
    chosen_stage: ChosenStage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StageProcesses]:
    """The stage's servers, shared by the checks, with a fresh database and an admin account."""
    running = start_site(chosen_stage, tmp_path_factory.mktemp("site"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def site_with(chosen_stage: ChosenStage) -> SiteWith:
    """Another copy of the stage's servers with some settings changed, for one ``with`` block:

    ``with site_with(tmp_path, {"CHAT_RATE": "1000"}) as loose: ...``
    """

    @contextmanager
    def running(workdir: Path, settings: Mapping[str, str]) -> Iterator[StageProcesses]:
        started = start_site(chosen_stage, workdir, settings)
        try:
            yield started
        finally:
            started.stop()

    return running


@pytest.fixture
def empty_site(chosen_stage: ChosenStage, tmp_path: Path) -> Iterator[StageProcesses]:
    """The stage's servers with a database of their own and no rooms in it."""
    running = start_site(chosen_stage, tmp_path / "site")
    yield running
    running.stop()


@pytest.fixture
def new_room(site: StageProcesses) -> Callable[[], int]:
    """Make a room of one's own, so checks never see each other's messages."""
    return lambda: site.create_room(f"Room {uuid.uuid4().hex[:8]}")


@pytest.fixture
def browsers() -> Iterator[Browsers]:
    """Open windows with ``browsers.open()``; one per person in the conversation."""
    opened = Browsers()
    yield opened
    opened.close_all()


@pytest.fixture
def browser(browsers: Browsers):
    """One browser window."""
    return browsers.open()
