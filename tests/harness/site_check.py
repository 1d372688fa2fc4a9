"""What a built static website must be, read from its files: every link inside it leads to a
page (and a place on that page) that exists, the front page's table of contents names every
chapter, and no page loads anything from another site, so that it reads the same offline.

Only the standard library: the self-tests check these checks on small broken sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOADED = {
    "script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src",
    "audio": "src", "embed": "src", "object": "data",
}  # fmt: skip
"""Elements whose address a browser loads when it shows the page, and which attribute."""
LOADED_LINKS = {"stylesheet", "icon", "preload", "modulepreload", "manifest", "prefetch"}
"""``<link rel=...>`` kinds a browser loads (a ``canonical`` one it does not)."""


@dataclass
class Page:
    """What one HTML page links to, loads and can be linked to."""

    links: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value for name, value in attrs if value is not None}
        for name in ("id", "name"):
            if name in found:
                self.page.anchors.add(found[name])
        if tag == "a" and "href" in found:
            self.page.links.append(found["href"])
        elif tag in LOADED and LOADED[tag] in found:
            self.page.loads.append(found[LOADED[tag]])
        elif tag == "link" and set(found.get("rel", "").split()) & LOADED_LINKS:
            self.page.loads.append(found.get("href", ""))


def read_page(path: Path) -> Page:
    reader = _Reader()
    reader.feed(path.read_text(errors="replace"))
    return reader.page


def pages_of(site: Path) -> dict[Path, Page]:
    """The site's pages; not the HTML among its assets (folders like ``_static/``, where a
    theme keeps template fragments that are never pages)."""
    return {
        path: read_page(path)
        for path in sorted(site.rglob("*.html"))
        if not any(part.startswith("_") for part in path.relative_to(site).parent.parts)
    }


def is_elsewhere(address: str) -> bool:
    """True for an address on another site (``https://...``, ``//host/...``)."""
    parts = urlsplit(address)
    return bool(parts.scheme in ("http", "https") or parts.netloc)


def target_of(page: Path, address: str) -> tuple[Path, str] | None:
    """The file and fragment a link inside the site points at; None for a link elsewhere or
    not to a file (``mailto:``, ``javascript:``)."""
    parts = urlsplit(address)
    if is_elsewhere(address) or parts.scheme:
        return None
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def broken_links(site: Path) -> list[str]:
    """Every link inside ``site`` that leads nowhere, in words."""
    pages = pages_of(site)
    anchors = {path.resolve(): page.anchors for path, page in pages.items()}
    broken = []
    for path, page in pages.items():
        for address in page.links + [a for a in page.loads if not is_elsewhere(a)]:
            found = target_of(path, address)
            if found is None:
                continue
            target, fragment = found
            where = path.relative_to(site)
            if not target.is_file():
                broken.append(f"{where} links to {address}: there is no such file")
            elif fragment and target in anchors and fragment not in anchors[target]:
                broken.append(f"{where} links to {address}: that page has no #{fragment}")
    return broken


def loaded_from_elsewhere(site: Path) -> list[str]:
    """Every script, stylesheet, image or frame a page of ``site`` loads from another site."""
    return [
        f"{path.relative_to(site)} loads {address}"
        for path, page in pages_of(site).items()
        for address in page.loads
        if is_elsewhere(address)
    ]


def missing_from_contents(site: Path, chapters: list[str], front: str = "index.html") -> list[str]:
    """The ``chapters`` (page names without ``.html``) that have no page in ``site`` or that
    the front page does not link to."""
    front_page = site / front
    if not front_page.is_file():
        return [f"the front page {front} itself"]
    linked = set()
    for address in read_page(front_page).links:
        found = target_of(front_page, address)
        if found is not None:
            linked.add(found[0])
    missing = []
    for name in chapters:
        page = (site / f"{name}.html").resolve()
        if not page.is_file():
            missing.append(f"{name} (no page {name}.html)")
        elif page not in linked:
            missing.append(f"{name} (not in the table of contents of {front})")
    return missing
