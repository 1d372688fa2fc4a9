"""Part 1 in a real browser: a person creates rooms in the admin and visits them."""

from __future__ import annotations

import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from harness import admin, chat_page
from harness.processes import StageProcesses
from harness.waits import wait_for

pytestmark = pytest.mark.needs("rooms")


def listed_rooms(driver: WebDriver) -> list[str]:
    return [link.text for link in driver.find_elements(By.CSS_SELECTOR, "main a[href*='/chats/']")]


def test_rooms_created_in_the_admin_are_listed_in_name_order(
    site: StageProcesses, browser: WebDriver
) -> None:
    tag = uuid.uuid4().hex[:6]
    zebra, aardvark = f"Zebra crossing {tag}", f"Aardvark club {tag}"
    admin.log_in(browser, site, admin.USERNAME, admin.PASSWORD)
    admin.add_room(browser, site, zebra)
    admin.add_room(browser, site, aardvark)

    def both_listed() -> list[str] | None:
        rooms = listed_rooms(browser)
        return rooms if {zebra, aardvark} <= set(rooms) else None

    browser.get(site.url("django", "/chats/"))
    rooms = wait_for(
        both_listed,
        f"/chats/ does not list the rooms {aardvark!r} and {zebra!r} just created in the admin. "
        "Check that the index view passes every ChatRoom to chats/index.html and that the "
        "template links each one to its page.",
    )
    assert rooms.index(aardvark) < rooms.index(zebra), (
        f"/chats/ lists {zebra!r} before {aardvark!r}; rooms should be in name order. "
        "Check order_by('name') in the index view."
    )

    browser.find_element(By.LINK_TEXT, zebra).click()
    wait_for(
        lambda: browser.find_element(By.TAG_NAME, "h1").text == zebra or None,
        f"Clicking {zebra!r} on /chats/ did not open a page headed with the room's name. "
        "Check the link in chats/index.html and the <h1> in chats/chat_room.html.",
    )
    assert browser.find_elements(By.ID, "message_list"), (
        "The room page has no element with id 'message_list'; chats/chat_room.html needs one."
    )
    assert browser.find_elements(By.ID, "inputbox"), (
        "The room page has no element with id 'inputbox'; chats/chat_room.html needs one."
    )


def test_home_page_takes_you_to_the_rooms(site: StageProcesses, browser: WebDriver) -> None:
    browser.get(site.url("django", "/"))
    wait_for(
        lambda: browser.current_url.endswith("/chats/") or None,
        "Opening / in a browser did not end on /chats/. Check the redirect in "
        "django_twisted_chat/urls.py.",
    )


def test_room_names_are_shown_as_text_not_html(site: StageProcesses, browser: WebDriver) -> None:
    name = f"<b>bold {uuid.uuid4().hex[:6]}</b>"
    room_id = site.create_room(name)
    chat_page.log_in(browser, site)
    browser.get(site.url("django", f"/chats/{room_id}/"))
    wait_for(
        lambda: browser.find_element(By.TAG_NAME, "h1").text == name or None,
        f"The room page for {name!r} does not show the name literally. Let Django's templates "
        "escape it: no |safe filter or autoescape off.",
    )


def test_an_empty_room_list_points_to_the_admin(
    empty_site: StageProcesses, browser: WebDriver
) -> None:
    chat_page.log_in(browser, empty_site)
    browser.get(empty_site.url("django", "/chats/"))
    link = wait_for(
        lambda: browser.find_element(By.CSS_SELECTOR, "main a[href*='/admin/']"),
        "With no rooms yet, /chats/ should say so and link to the admin to create one. "
        "Check the {% else %} branch of chats/index.html.",
    )
    link.click()
    wait_for(
        lambda: "/admin/" in browser.current_url or None,
        "The empty room list's link does not lead into the admin.",
    )
