"""Driving Django's admin in the browser, the way a person creates rooms."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from .processes import StageProcesses
from .waits import wait_for

USERNAME = "admin"
PASSWORD = "workbook-admin-password"
"""The account the checks create in every fresh database, and log in with."""


def log_in(driver: WebDriver, site: StageProcesses, username: str, password: str) -> None:
    driver.get(site.url("django", "/admin/login/?next=/admin/"))
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()

    def answered() -> str | None:
        # The login page has a #site-name too, so wait for the form's answer to arrive:
        # an error note on the login page, or another page.
        if driver.find_elements(By.CSS_SELECTOR, ".errornote"):
            return "refused"
        if "/admin/login/" in driver.current_url:
            return None
        driver.find_element(By.ID, "site-name")
        return "logged in"

    outcome = wait_for(
        answered,
        "Logging in to /admin/ as a superuser did not reach the admin home page. "
        "Check that django.contrib.admin is in INSTALLED_APPS and admin/ is in urls.py.",
    )
    assert outcome == "logged in", (
        "The admin did not accept the superuser's login; see the window's screenshot."
    )


def add_room(driver: WebDriver, site: StageProcesses, name: str) -> None:
    driver.get(site.url("django", "/admin/chat/chatroom/add/"))
    wait_for(
        lambda: driver.find_element(By.NAME, "name"),
        "The admin page for adding a chat room (/admin/chat/chatroom/add/) has no 'name' field. "
        "Check that chat/admin.py registers ChatRoom and that ChatRoom has a name field.",
    )
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "_save").click()
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "ul.messagelist li.success"),
        f"Saving the room {name!r} in the admin did not show Django's 'added successfully' note.",
    )
