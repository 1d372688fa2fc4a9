"""Sphinx configuration of the book: `nox -s book` (tests/harness/book.py) builds the site.

The pages are the executed chapters (book/_build/source/, made by the build); book/index.md is
the front page and the table of contents. Nothing here may make a page load anything from
the internet: the site must read the same offline, from a folder or any static host.
"""

project = "Real-time chat with Django, Twisted and WebSockets"
author = "the workbook's authors"
copyright = "2026, the workbook's authors"
extensions = ["myst_nb", "sphinx.ext.githubpages"]  # the latter: a .nojekyll file
root_doc = "index"

nb_execution_mode = "off"  # the outputs are the replay's, never made here
nb_render_markdown_format = "myst"  # the chapters' tables printed with display(Markdown(...))
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "Real-time chat with Django, Twisted and WebSockets"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    # Styles that show a diff's taken-out lines in red and put-in lines in green.
    "pygments_light_style": "default",
    "pygments_dark_style": "monokai",
}
html_show_sphinx = False
html_last_updated_fmt = None
# A block Pygments cannot lex strictly (a JSON example with "..." in it) is still shown,
# highlighted leniently; that is no reason to stop the build.
suppress_warnings = ["misc.highlighting_failure"]
