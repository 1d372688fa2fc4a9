"""The shared suite's wiring: which stage to check, its running servers, its browsers.

    pytest tests/stage_checks --stage part2                     # the reference snapshot
    pytest tests/stage_checks --stage part2 --stage-dir ~/mine  # your own folder

Every check says which features it needs (``@pytest.mark.needs("websocket")``); checks for
features the stage does not have yet are deselected, so part3 runs part2's checks too.

Before the first check, the stage is prepared once (requirements, system check, migrations,
a database); a problem there is reported once, first, and the checks that depend on it are
not run. ``--quick`` leaves out the checks that need a browser or servers of their own.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from harness import waits
from harness.artefacts import keep_evidence, run_name
from harness.browser import BrowserPool, Browsers
from harness.load import Burners
from harness.preflight import Preparation, RootCause, prepare
from harness.processes import (
    PreparedDatabase,
    SiteWith,
    StageError,
    StageProcesses,
    let_children_hear_ctrl_c,
)
from harness.services import PostgresServer, ServiceError
from harness.shared_site import SharedSite
from harness.stages import FEATURES, REPO_ROOT, STAGES, Stage, chatserver_modules

pytest_plugins = ["harness.watchdog", "harness.reporting"]

FIRST_CHECK = "test_the_project_can_be_prepared"
BROWSER_FIXTURES = frozenset({"browser", "browsers"})
OWN_SERVER_FIXTURES = frozenset({"site_with", "empty_site"})
SERVER_FIXTURES = frozenset({"site"}) | OWN_SERVER_FIXTURES
PREPARATION = pytest.StashKey[Preparation]()
RUN_NAME = pytest.StashKey[str]()
"""The name of this run's artefacts folder."""
BURNERS = pytest.StashKey[Burners]()
"""The busy processes of --under-load, if it was given."""
POSTGRES = pytest.StashKey[PostgresServer]()
"""The run's PostgreSQL server, for a stage that needs one: each site gets a database of its
own on it (starting a server per site would cost seconds each time)."""

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
    group.addoption(
        "--under-load",
        action="store_true",
        help="keep every core busy while the checks run (one busy process per core), to see "
        "that they give the same answer on a busy laptop",
    )
    group.addoption(
        "--quick",
        action="store_true",
        help="only the protocol checks and the loopback checks against the shared servers: "
        "no browser, no servers of their own, done in seconds",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*features): the stage features this check needs")
    if config.getoption("--max-wait"):
        waits.set_max_wait(config.getoption("--max-wait"))
    config.stash[RUN_NAME] = run_name()
    let_children_hear_ctrl_c()
    if config.getoption("--under-load", default=False):
        burners = Burners()
        burners.start()
        config.stash[BURNERS] = burners
        config.add_cleanup(burners.stop)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Prepare the stage once per run, before any check starts."""
    config = session.config
    chosen = chosen_stage_of(config)
    if chosen is None:
        return  # no stage to check (the self-tests, the chapter replay)
    workdir = Path(tempfile.mkdtemp(prefix="chat-prepared-"))
    config.add_cleanup(lambda: shutil.rmtree(workdir, ignore_errors=True))
    postgres = None
    if "postgresql" in chosen.stage.services:
        postgres = PostgresServer(workdir)
        config.add_cleanup(postgres.close)
        try:
            postgres.start()
        except ServiceError as problem:
            config.stash[PREPARATION] = Preparation(
                problem=f"The PostgreSQL server the stage needs did not start. {problem}"
            )
            return
        config.stash[POSTGRES] = postgres
    site = StageProcesses(chosen.stage, chosen.path, workdir, postgres=postgres)
    config.stash[PREPARATION] = prepare(site)


def needs_a_browser(item: pytest.Item) -> bool:
    return bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())))


def needs_servers(item: pytest.Item) -> bool:
    return bool(SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))


def needs_own_servers(item: pytest.Item) -> bool:
    """Starts servers of its own (other settings, an empty database, a restart to watch)."""
    return bool(OWN_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))


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
    quick = config.getoption("--quick")
    keep, drop, slow = [], [], []
    for item in items:
        needs = {feature for mark in item.iter_markers("needs") for feature in mark.args}
        if needs - FEATURES.keys():
            raise pytest.UsageError(
                f"{item.nodeid} needs {sorted(needs - FEATURES.keys())}, which no stage can "
                f"have; the features are {', '.join(FEATURES)} (harness/stages.py)"
            )
        if not needs:
            keep.append(item)
        elif chosen is None:
            raise pytest.UsageError(
                f"{item.nodeid} checks a stage: say which one, e.g. --stage part1 "
                "(or run `nox -s part1`, which does)"
            )
        elif not needs <= chosen.stage.features:
            drop.append(item)
        elif quick and (needs_a_browser(item) or needs_own_servers(item)):
            slow.append(item)
        else:
            keep.append(item)
    if drop or slow:
        config.hook.pytest_deselected(items=drop + slow)
    config.stash[LEFT_OUT_BY_QUICK] = (
        sum(map(needs_a_browser, slow)),
        sum(not needs_a_browser(item) for item in slow),
    )
    # Whether the project can be prepared comes first; then the in-process checks (the
    # shared servers boot meanwhile), those against real servers, and the browser checks:
    # the quickest, most precise messages come first.
    items[:] = sorted(
        keep,
        key=lambda item: (item.name != FIRST_CHECK, needs_a_browser(item), needs_servers(item)),
    )


LEFT_OUT_BY_QUICK = pytest.StashKey[tuple[int, int]]()
"""How many browser checks, and other checks with servers of their own, --quick left out."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    browser, own_servers = terminalreporter.config.stash.get(LEFT_OUT_BY_QUICK, (0, 0))
    left_out = []
    if browser:
        left_out.append(f"{browser} browser check{'s' if browser > 1 else ''}")
    if own_servers:
        whose = "their" if own_servers > 1 else "its"
        left_out.append(f"{own_servers} with servers of {whose} own")
    if left_out:
        terminalreporter.write_line(
            f"Quick mode: {' and '.join(left_out)} skipped. Run again without --quick before "
            "you move on.",
            yellow=True,
            bold=True,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    chosen = chosen_stage_of(config)
    if chosen is not None:
        whose = "reference snapshot" if chosen.is_reference else "your folder"
        features = ", ".join(sorted(chosen.stage.features))
        lines.append(f"stage {chosen.stage.name} ({features}) from {chosen.path} ({whose})")
    if BURNERS in config.stash:
        lines.append(config.stash[BURNERS].describe())
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """When a check fails, save what its browsers and servers show, and say where."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        things = list(getattr(item, "funcargs", {}).values())
        root, run = item.config.getoption("--artefacts"), item.config.stash[RUN_NAME]
        saved = keep_evidence(things, root, run, item.nodeid)
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


@pytest.fixture(scope="session")
def stage_features(chosen_stage: ChosenStage) -> frozenset[str]:
    """What the stage being checked can do ("websocket", "single_process", ...)."""
    return chosen_stage.stage.features


@pytest.fixture(scope="session")
def import_from_stage(
    chosen_stage: ChosenStage, root_cause: RootCause
) -> Iterator[Callable[[str], ModuleType]]:
    """Import the stage's own code in this process: ``import_from_stage("chatserver.protocol")``.

    If the stage could not be prepared (its code does not even import, say), that is said once
    and every check that would import it is skipped.
    """
    root_cause.stop_here()
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
def chatserver_code(
    import_from_stage: Callable[[str], ModuleType], stage_features: frozenset[str]
) -> SimpleNamespace:
    """The stage's chatserver package, imported into this process: the modules its features
    call for (``chatserver_code.factory`` is chatserver.factory)."""
    modules = chatserver_modules(stage_features)
    return SimpleNamespace(**{name.split(".")[-1]: import_from_stage(name) for name in modules})


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config) -> PostgresServer | None:
    """The run's PostgreSQL server, if the stage needs one (started before the first check)."""
    return pytestconfig.stash.get(POSTGRES, None)


@pytest.fixture(scope="session")
def django_in_process(
    import_from_stage: Callable[[str], ModuleType],
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer | None,
) -> Iterator[None]:
    """The stage's Django set up in this process, on a fresh, migrated database, for the
    checks that call the stage's real Django functions (room and session lookups): an sqlite
    file, or a database of its own on the run's PostgreSQL server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SETTINGS_MODULE", "django_twisted_chat.settings")
        if postgres is None:
            database = tmp_path_factory.mktemp("django") / "db.sqlite3"
            patch.setenv("DJANGO_DB_PATH", str(database))
        else:
            postgres.create_database("in_process")
            patch.setenv("DATABASE_URL", postgres.url("in_process"))
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        connections.close_all()
        yield


@pytest.fixture(scope="session")
def preparation(pytestconfig: pytest.Config) -> Preparation:
    """How preparing the stage went (pytest_sessionstart did it, once per run)."""
    return pytestconfig.stash[PREPARATION]


@pytest.fixture(scope="session")
def root_cause(preparation: Preparation) -> RootCause:
    return RootCause(preparation.problem)


@pytest.fixture(scope="session")
def prepared_database(preparation: Preparation) -> PreparedDatabase | None:
    """A migrated database with the admin account and rooms, copied for every server the
    checks start; None when the stage cannot be prepared (``root_cause`` says why)."""
    return preparation.database


@pytest.fixture(autouse=True)
def stage_is_prepared(request: pytest.FixtureRequest) -> None:
    """Every stage check first makes sure the stage could be prepared at all."""
    if request.node.get_closest_marker("needs") is None:
        return
    request.getfixturevalue("root_cause").stop_here()


def start_site(
    chosen: ChosenStage,
    database: PreparedDatabase | None,
    workdir: Path,
    settings: Mapping[str, str] | None = None,
    postgres: PostgresServer | None = None,
) -> StageProcesses:
    """Start the stage's servers on a copy of ``database``; fail in plain words if they don't."""
    site = StageProcesses(chosen.stage, chosen.path, workdir, env=settings, postgres=postgres)
    try:
        site.start(database=database)
    except StageError as problem:
        site.stop()
        with_settings = f" with {dict(settings)}" if settings else ""
        pytest.fail(f"The stage could not be started{with_settings}. {problem}", pytrace=False)
    return site


def stop_site(site: StageProcesses) -> None:
    """Stop a stage's servers; fail in plain words if one had to be killed to stop it."""
    site.stop()
    if site.had_to_kill:
        pytest.fail("\n\n".join(site.had_to_kill), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def shared_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedSite | None]:
    """Launch the shared servers at the start of the run, if any check will use them."""
    if not any("site" in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    database = request.getfixturevalue("prepared_database")
    chosen = request.getfixturevalue("chosen_stage")
    workdir = tmp_path_factory.mktemp("site")
    postgres = request.getfixturevalue("postgres")
    shared = SharedSite(chosen.stage, chosen.path, database, workdir, postgres)
    yield shared
    killed = shared.stop()
    if killed:
        pytest.fail("\n\n".join(killed), pytrace=False)


@pytest.fixture
def site(shared_site: SharedSite | None) -> Iterator[StageProcesses]:
    """The stage's servers, shared by the checks, with a fresh database and an admin account."""
    assert shared_site is not None
    running = shared_site.ready()
    yield running
    if running.had_to_kill:  # a check stopped one of them, and it would not end when asked
        killed = "\n\n".join(running.had_to_kill)
        running.had_to_kill.clear()
        pytest.fail(killed, pytrace=False)


@pytest.fixture(scope="session")
def site_with(
    chosen_stage: ChosenStage,
    prepared_database: PreparedDatabase | None,
    shared_site: SharedSite | None,
    postgres: PostgresServer | None,
) -> SiteWith:
    """Another copy of the stage's servers with some settings changed, for one ``with`` block:

    ``with site_with(tmp_path, {"CHAT_RATE": "1000"}) as loose: ...``

    If the shared servers could not start, neither will these: that is said once, not again.
    """

    @contextmanager
    def running(workdir: Path, settings: Mapping[str, str]) -> Iterator[StageProcesses]:
        if shared_site is not None:
            shared_site.ready()
        started = start_site(chosen_stage, prepared_database, workdir, settings, postgres)
        try:
            yield started
        except BaseException:
            started.stop()  # the check's own failure comes first
            raise
        stop_site(started)

    return running


@pytest.fixture
def empty_site(
    chosen_stage: ChosenStage,
    preparation: Preparation,
    shared_site: SharedSite | None,
    postgres: PostgresServer | None,
    tmp_path: Path,
) -> Iterator[StageProcesses]:
    """The stage's servers with a database of their own and no rooms in it."""
    if shared_site is not None:
        shared_site.ready()  # if those could not start, this is not the place to say it again
    running = start_site(chosen_stage, preparation.empty, tmp_path / "site", postgres=postgres)
    yield running
    stop_site(running)


@pytest.fixture
def new_room(site: StageProcesses) -> Callable[[], int]:
    """Make a room of one's own, so checks never see each other's messages."""
    return site.new_room


@pytest.fixture(scope="session", autouse=True)
def browser_pool(request: pytest.FixtureRequest) -> Iterator[BrowserPool]:
    """Browsers kept open for the whole run; two start at once if any check will need one."""
    pool = BrowserPool()
    if any(needs_a_browser(item) for item in request.session.items):
        pool.warm_up(2)
    yield pool
    pool.close()


@pytest.fixture
def browsers(browser_pool: BrowserPool) -> Iterator[Browsers]:
    """Open windows with ``browsers.open()``; one per person in the conversation."""
    opened = Browsers(browser_pool)
    yield opened
    opened.close_all()


@pytest.fixture
def browser(browsers: Browsers):
    """One browser window."""
    return browsers.open()
