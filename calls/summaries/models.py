"""The LLM's short account of a call: what the caller wanted and whether someone must follow up."""
from django.db import models


class CallSummary(models.Model):
    class Status(models.TextChoices):
        DONE = "done", "Summarised"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    call = models.OneToOneField("calls.Call", on_delete=models.CASCADE, related_name="summary")
    status = models.CharField(max_length=10, choices=Status.choices)
    summary = models.TextField(blank=True, max_length=1000)
    intent = models.CharField(max_length=40, blank=True)
    follow_up_needed = models.BooleanField(null=True)
    # Why there is no summary (no LLM configured, the LLM timed out or answered nonsense).
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "call summaries"

    def __str__(self) -> str:
        return self.summary[:60] or self.get_status_display()
