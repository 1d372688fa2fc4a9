from django.db import models

from harness.report import CHECK_LIMIT, MESSAGE_LIMIT, NAME_LIMIT


class Report(models.Model):
    """One run of a learner's checks, as they reported it (harness/report.py)."""

    name = models.CharField(max_length=NAME_LIMIT)
    stage = models.CharField(max_length=NAME_LIMIT)
    passed = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()
    # Not "check": Django models have a check() of their own (the system checks).
    failing_check = models.CharField(max_length=CHECK_LIMIT, blank=True)
    message = models.CharField(max_length=MESSAGE_LIMIT, blank=True)
    received = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["received", "id"]

    def __str__(self):
        return f"{self.name}: {self.stage}, {self.passed} passed, {self.failed} failed"
