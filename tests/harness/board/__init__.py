"""The workshop board: a Django app added to the newest stage by ``nox -s workshop``.

It takes learners' reports (harness/report.py says what one holds), and shows the
instructor, live, who is at which stage and which check has people stuck. It is the
instructors' tooling, not a chapter's code, so it lives here, beside the plugin that sends
the reports, and joins the stage through a settings module (settings.py) that extends the
stage's own: the stage's folder is not touched.
"""
