"""A page whose timers fire a millisecond before its clock says they are due.

A browser rounds a timer's delay down to a whole millisecond, so a timer set for the end of
a wait may fire a fraction of a millisecond before Date.now() reaches that end. On a real
page that happens now and then; on a page given this clock it happens every time, so that
a check can show that a page's waits end all the same.
"""

from __future__ import annotations

from selenium.webdriver.remote.webdriver import WebDriver

TIMERS_FIRE_EARLY = """
const realSetTimeout = window.setTimeout.bind(window);
let now = Date.now();
Date.now = function () {
  return now;
};
window.setTimeout = function (callback, delay, ...args) {
  const due = now + (Number(delay) || 0);
  return realSetTimeout(function () {
    now = Math.max(now, due - 1);
    callback(...args);
  }, delay);
};
"""
"""The page's clock stands still between timers, and reads 1 ms short of a timer's due time
when the timer fires (timers still wait as long as they were asked to)."""


def make_timers_fire_early(driver: WebDriver) -> None:
    """From now until the page is loaded again, every timer the page sets fires when its
    clock is 1 ms short of the timer's due time."""
    driver.execute_script(TIMERS_FIRE_EARLY)
