"""`nox -s book`: the chapters, as their replay ran them, built into a website.

The first check builds the book (replaying first any chapter whose kept run is missing or out
of date); the others read what was built in book/_build/html/.
"""

from __future__ import annotations

import functools
import html
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from selenium import webdriver

from harness.book import FILE_MAGIC, FRONT_PAGE, PAGES, BookError, build, for_the_book, literally
from harness.executed import up_to_date
from harness.replay import CHAPTERS
from harness.site_check import broken_links, loaded_from_elsewhere, missing_from_contents
from harness.waits import wait_for

BENCH_CHAPTER = "08_whyfore"
"""The chapter that shows the bench's chart."""
CONTENTS = "book/index.md"


@pytest.fixture(scope="module")
def book_site() -> Path:
    """The book, built once. If it cannot be, that is said once, and nothing else is run:
    every other check here reads what was built."""
    try:
        return build()
    except BookError as problem:
        reason = f"The book was not built: {problem}"
    pytest.exit(reason, returncode=1)


def kept_run(chapter: Path) -> nbformat.NotebookNode:
    notebook = up_to_date(chapter)
    assert notebook is not None, f"no up-to-date run of {chapter.name} was kept for the book"
    return notebook


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if "text" in out)


def test_every_chapter_is_in_the_table_of_contents(book_site: Path) -> None:
    pages = [page.stem for page in PAGES if page != FRONT_PAGE]
    missing = missing_from_contents(book_site, [chapter.stem for chapter in CHAPTERS] + pages)
    assert not missing, (
        f"these pages are missing from the book: {missing}. List each chapter, and the "
        f"instructors' notes, in a toctree of {CONTENTS}."
    )


def test_no_link_inside_the_book_is_broken(book_site: Path) -> None:
    broken = broken_links(book_site)
    assert not broken, "broken links in the book:\n" + "\n".join(broken)


def test_no_page_loads_anything_from_the_internet(book_site: Path) -> None:
    elsewhere = loaded_from_elsewhere(book_site)
    assert not elsewhere, (
        "the book must read offline, but these pages load from other sites (book/conf.py "
        "chooses the theme and what it adds):\n" + "\n".join(elsewhere)
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_each_change_is_shown_as_a_diff_with_what_it_printed(
    book_site: Path, chapter: Path
) -> None:
    page = (book_site / f"{chapter.stem}.html").read_text()
    changes = [
        (found["path"], printed(cell))
        for cell in kept_run(chapter).cells
        if cell.cell_type == "code" and (found := FILE_MAGIC.match(cell.source))
        and found["magic"] == "change"
    ]  # fmt: skip
    assert page.count('class="highlight-diff') >= len(changes), (
        f"{chapter.stem}.html shows fewer diffs than {chapter.name} has %%change cells "
        "(tests/harness/book.py, shown_as_file)"
    )
    for path, text in changes:
        assert f"%%change {path}</span>" in page, f"{chapter.stem}.html: no diff of {path}"
        assert html.escape(text.strip(), quote=False) in page, (
            f"{chapter.stem}.html does not show what the change of {path} printed: {text!r}"
        )


def test_each_picture_a_chapter_showed_is_an_image_on_its_page(book_site: Path) -> None:
    for chapter in CHAPTERS:
        shown = sum(
            "image/png" in output.get("data", {})
            for cell in kept_run(chapter).cells
            for output in cell.get("outputs", [])
        )
        page = (book_site / f"{chapter.stem}.html").read_text()
        assert page.count("<img ") >= shown, f"{chapter.stem}.html lost some of its pictures"
        if chapter.stem == BENCH_CHAPTER:
            assert shown, f"{chapter.name} showed no chart of the bench when it was replayed"


def test_a_change_cell_becomes_a_captioned_diff_then_its_output() -> None:
    """The copy given to Sphinx: the cell's first line captions the diff, its body is the
    diff, a longer fence guards a body with backticks, and the output follows alone."""
    cell = nbformat.v4.new_code_cell("%%change chat/a.py\n x = 1\n-y = '```'\n+y = 2\n")
    cell.outputs = [nbformat.v4.new_output("stream", text="Changed chat/a.py (1 place).\n")]
    written = nbformat.v4.new_code_cell("%%writefile chat/a.js\nlet a = 1;\n")
    notebook = for_the_book(nbformat.v4.new_notebook(cells=[cell, written]))
    assert len(notebook.cells) == 3, "the change, what it printed, and the written file"
    diff, ran, file = notebook.cells
    assert diff.cell_type == "markdown" and diff.source.startswith("````{code-block} diff\n")
    assert f":caption: {literally('%%change chat/a.py')}\n" in diff.source
    assert "\n-y = '```'\n" in diff.source
    assert ran.metadata["tags"] == ["remove-input"] and ran.outputs == cell.outputs
    assert ran.id != cell.id, "cell ids stay unique"
    assert file.source.startswith("```{code-block} javascript\n")


@pytest.fixture
def served(book_site: Path) -> Iterator[str]:
    """The site on a local static web server, as any static host would serve it."""
    handler = functools.partial(QuietHandler, directory=str(book_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


LOADED_SO_FAR = """
return document.readyState === "complete"
    && Array.from(document.images).every(image => image.complete)
    ? performance.getEntriesByType("resource").map(entry => entry.name) : null;
"""


@pytest.mark.parametrize("name", ["index", "05_auth", BENCH_CHAPTER])
def test_a_page_loads_only_from_the_book_itself(
    served: str, browser: webdriver.Chrome, name: str
) -> None:
    browser.get(f"{served}{name}.html")
    loaded = wait_for(
        lambda: browser.execute_script(LOADED_SO_FAR), f"{name}.html never finished loading"
    )
    elsewhere = [address for address in loaded if not address.startswith(served)]
    assert not elsewhere, f"{name}.html loaded these from other sites: {elsewhere}"
    unshown = browser.execute_script(
        "return Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src);"
    )
    assert not unshown, f"{name}.html has images that did not load: {unshown}"
