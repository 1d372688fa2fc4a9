"""The book's checks catch what they are for: on small sites with one thing wrong, each says
what and where (harness/site_check.py; `nox -s book` runs them on the real book)."""

from __future__ import annotations

from pathlib import Path

from harness.site_check import broken_links, loaded_from_elsewhere, missing_from_contents

GOOD = {
    "index.html": '<nav><a href="01_one.html">1</a> <a href="02_two.html#start">2</a></nav>',
    "01_one.html": '<a href="index.html">up</a> <a href="#here" id="here">here</a>'
    '<img src="_images/chart.png"><link rel="stylesheet" href="_static/site.css?v=1">',
    "02_two.html": '<h1 id="start">Two</h1><a href="01_one.html#here">back</a>'
    '<a href="https://example.org/elsewhere">a link out is not loaded</a>'
    '<link rel="canonical" href="https://example.org/02_two.html">',
    "_images/chart.png": "",
    "_static/site.css": "",
    "_static/macros.html": "<a href=\"{{ pathto('x') }}\">a template, not a page</a>",
}


def site(folder: Path, changes: dict[str, str] | None = None) -> Path:
    for name, text in {**GOOD, **(changes or {})}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_good_site_passes(tmp_path: Path) -> None:
    good = site(tmp_path)
    assert broken_links(good) == []
    assert loaded_from_elsewhere(good) == []
    assert missing_from_contents(good, ["01_one", "02_two"]) == []


def test_a_link_to_a_missing_page_is_named_with_the_page_it_is_on(tmp_path: Path) -> None:
    bad = site(tmp_path, {"02_two.html": GOOD["02_two.html"] + '<a href="03_three.html">'})
    assert broken_links(bad) == ["02_two.html links to 03_three.html: there is no such file"]


def test_a_link_to_a_missing_place_on_a_page_is_broken(tmp_path: Path) -> None:
    bad = site(tmp_path, {"index.html": '<a href="01_one.html#gone">1</a>'})
    assert broken_links(bad) == ["index.html links to 01_one.html#gone: that page has no #gone"]


def test_a_missing_image_or_stylesheet_is_broken(tmp_path: Path) -> None:
    bad = site(tmp_path)
    (bad / "_images" / "chart.png").unlink()
    assert broken_links(bad) == ["01_one.html links to _images/chart.png: there is no such file"]


def test_a_chapter_left_out_of_the_contents_or_never_built_is_missing(tmp_path: Path) -> None:
    bad = site(tmp_path, {"index.html": '<a href="01_one.html">1</a>'})
    assert missing_from_contents(bad, ["01_one", "02_two", "03_three"]) == [
        "02_two (not in the table of contents of index.html)",
        "03_three (no page 03_three.html)",
    ]


def test_a_script_from_another_site_is_named(tmp_path: Path) -> None:
    bad = site(
        tmp_path,
        {"01_one.html": '<script src="https://cdn.example.org/x.js"></script>'
         '<link rel="stylesheet" href="//fonts.example.org/f.css">'},
    )  # fmt: skip
    assert loaded_from_elsewhere(bad) == [
        "01_one.html loads https://cdn.example.org/x.js",
        "01_one.html loads //fonts.example.org/f.css",
    ]
