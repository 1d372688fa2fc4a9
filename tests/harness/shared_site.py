"""The servers most of a run's checks share, started once and stopped at the end."""

from __future__ import annotations

from pathlib import Path

from .preflight import RootCause
from .processes import PreparedDatabase, StageError, StageProcesses
from .services import PostgresServer
from .stages import Stage

SETTINGS = {"CHAT_LONGEST_RETRY_MS": "200"}
"""The shared servers' settings: the pages wait at most 0.2 s between two tries to reach a
stopped chat server (10 s by default), so that a check sees a page go on trying long past
the point where it once gave up, in seconds, and every restart check is over sooner."""


class SharedSite:
    """The servers most checks share: launched as soon as the run starts, so that they boot
    while the in-process checks run, and waited for by the first check that needs them."""

    def __init__(
        self,
        stage: Stage,
        stage_dir: Path,
        database: PreparedDatabase | None,
        workdir: Path,
        postgres: PostgresServer | None = None,
    ) -> None:
        """``postgres``: the run's PostgreSQL server, for a stage that needs one."""
        self.running: StageProcesses | None = None
        self.problem = RootCause()
        self._waited = False
        if database is None:
            return  # the stage could not be prepared; the preflight says why
        site = StageProcesses(stage, stage_dir, workdir, env=SETTINGS, postgres=postgres)
        try:
            site.launch(database=database)
            self.running = site
        except StageError as problem:
            site.stop()
            self.problem.problem = f"The stage's servers could not be started. {problem}"

    def ready(self) -> StageProcesses:
        """The running servers, once they answer; the first failure or a skip if they don't."""
        if not self._waited and self.running is not None:
            self._waited = True
            try:
                self.running.wait_until_ready()
            except StageError as problem:
                self.stop()
                self.problem.problem = f"The stage's servers could not be started. {problem}"
        self.problem.stop_here()
        assert self.running is not None
        return self.running

    def stop(self) -> list[str]:
        """Stop the servers; for each that had to be killed, what to check."""
        if self.running is None:
            return []
        self.running.stop()
        killed, self.running = self.running.had_to_kill, None
        return killed
