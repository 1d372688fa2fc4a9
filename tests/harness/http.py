"""Plain HTTP requests for the checks, without following redirects."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Response:
    """Send one request and return the answer, whatever its status."""
    outgoing = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(outgoing, timeout=timeout) as answer:
            return Response(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as answer:
        return Response(answer.code, answer.headers, answer.read())


def log_in(login_url: str, username: str, password: str) -> str:
    """Log in through the Django login form at ``login_url``, as a person would; the Cookie
    header that carries the new session (and the CSRF cookie)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirects)
    with opener.open(login_url, timeout=10) as page:
        form_page = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page)
    assert token is not None, f"{login_url} has no login form with a CSRF token."
    fields = {"csrfmiddlewaretoken": token.group(1), "username": username, "password": password}
    parts = urllib.parse.urlsplit(login_url)
    posted = urllib.request.Request(
        login_url,
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Origin": f"{parts.scheme}://{parts.netloc}", "Referer": login_url},
    )
    try:
        opener.open(posted, timeout=10).close()
    except urllib.error.HTTPError as answer:  # the redirect after logging in, not followed
        answer.close()
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, (
        f"Logging in as {username} at {login_url} gave no session: wrong password, or the "
        "form did not accept it."
    )
    return "; ".join(f"{name}={value}" for name, value in cookies.items())
