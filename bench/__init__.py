"""``nox -s bench``: the chat servers under load, side by side with a Django Channels chat.

Run ``python -m bench --help`` (or ``nox -s bench -- --help``) for the sizes and targets.
"""
