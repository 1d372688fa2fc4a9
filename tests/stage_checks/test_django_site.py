"""Part 1 over plain HTTP: the URLs behave.

Whether the project is sound (`manage.py check`, no model change without its migration) is
asked once before any check, by harness/preflight.py, so that it is reported first.
"""

from __future__ import annotations

import pytest

from harness import http
from harness.processes import StageProcesses

pytestmark = pytest.mark.needs("rooms")


def test_home_redirects_to_the_room_list(site: StageProcesses) -> None:
    answer = http.request(site.url("django", "/"))
    location = answer.headers.get("Location", "")
    assert answer.status in (301, 302) and location.endswith("/chats/"), (
        f"/ answered {answer.status} (Location: {location or 'none'}), not a redirect to "
        "/chats/. Check the RedirectView for the empty path in django_twisted_chat/urls.py."
    )


def test_room_list_answers(site: StageProcesses) -> None:
    answer = http.request(site.url("django", "/chats/"), headers=site.credentials())
    assert answer.status == 200, (
        f"/chats/ answered {answer.status}, not 200. Check chat/urls.py and the index view."
    )


@pytest.mark.parametrize("room_id", ["999999", "abc", "-1", "1.5"])
def test_a_room_that_does_not_exist_is_404(site: StageProcesses, room_id: str) -> None:
    answer = http.request(site.url("django", f"/chats/{room_id}/"), headers=site.credentials())
    assert answer.status == 404, (
        f"/chats/{room_id}/ answered {answer.status}, not 404. Use the <int:chat_room_id> "
        "path converter in chat/urls.py and get_object_or_404 in the chat_room view."
    )
