"""The board's pages: reports come in at /workshop/report/, the board is at /board/."""

import json
import secrets

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from chat.models import Message
from harness.report import BadReport, Report

from . import models
from .nudge import NUDGER, board_room
from .state import Received, board_state

BODY_LIMIT = 4096
"""Bytes a report may take; a real one takes a few hundred."""
BOARD_LINES = 8
"""Lines of the board room shown under the board: the latest reports, as they arrive."""


def refuse(status, code, detail):
    return JsonResponse({"type": "error", "code": code, "detail": detail}, status=status)


@csrf_exempt  # sent by the learners' checks, not by a page of ours: the code vouches for it
def receive_report(request):
    """Store a learner's report and tell the board; 4xx with a JSON error if it is refused."""
    if request.method != "POST":
        return refuse(405, "method_not_allowed", "Send reports with POST.")
    if int(request.META.get("CONTENT_LENGTH") or 0) > BODY_LIMIT:
        return refuse(413, "too_big", f"A report takes at most {BODY_LIMIT} bytes.")
    try:
        data = json.loads(request.body)
    except ValueError:
        return refuse(400, "not_json", "A report is a JSON object.")
    code = data.get("code") if isinstance(data, dict) else None
    if not isinstance(code, str) or not secrets.compare_digest(code, settings.WORKSHOP_CODE):
        return refuse(
            403, "wrong_code", "That is not this workshop's code: copy the address from the board."
        )
    try:
        report = Report.from_json(data)
    except BadReport as problem:
        return refuse(400, "bad_report", str(problem))
    row = models.Report.objects.create(
        name=report.name,
        stage=report.stage,
        passed=report.passed,
        failed=report.failed,
        failing_check=report.check,
        message=report.message,
    )
    said = f"{report.name}: {report.stage}, {report.passed} passed, {report.failed} failed"
    NUDGER.nudge(report.name, said)
    return JsonResponse({"received": row.pk}, status=201)


@staff_member_required
def board(request):
    """The board: its own script draws it, and follows the board room as a room page does."""
    room = board_room()
    latest = Message.objects.filter(room=room).select_related("author").order_by("-seq")
    shown = list(reversed(latest[:BOARD_LINES]))
    chat_server = {  # what the stage's room.js and chat.js read (chat/views.py, render_room)
        "room": room.pk,
        "last_id": shown[-1].seq if shown else room.last_seq,
        "poll_timeout": settings.CHAT_POLL_TIMEOUT,
        "csrf_token": get_token(request),
        "login_url": redirect_to_login(request.get_full_path()).url,
        "username": request.user.get_username(),
    }
    opt_in = f"{request.scheme}://{request.get_host()}/?code={settings.WORKSHOP_CODE}"
    context = {"chat_messages": shown, "chat_server": chat_server, "opt_in": opt_in}
    return render(request, "board/board.html", context)


@staff_member_required
def state(request):
    """The board's data, worked out afresh from every report (state.py)."""
    received = [
        Received(
            Report(r.name, r.stage, r.passed, r.failed, r.failing_check, r.message), r.received
        )
        for r in models.Report.objects.all()
    ]
    return JsonResponse(board_state(received, timezone.now()))
