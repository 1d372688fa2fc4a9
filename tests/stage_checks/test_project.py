"""The first check of every run: the project can be prepared at all.

harness/preflight.py asks once, before any check, whether the requirements are installed,
`manage.py check` passes, no model change lacks its migration, and `migrate` works. If not,
this is the one check that says so; the others are skipped.
"""

from __future__ import annotations

import pytest

from harness.preflight import Preparation

pytestmark = pytest.mark.needs("rooms")


def test_the_project_can_be_prepared(preparation: Preparation) -> None:
    assert preparation.database is not None, preparation.problem
