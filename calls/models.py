"""What the calls produce: the call itself, its transcript, notes, tool calls, the callback queue
and the SMS log."""
import uuid

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import models
from django.db.models import Q
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

from core.call_contract import AGENT_OUTCOMES


class Call(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "In progress"
        ENDED = "ended", "Ended"

    class Outcome(models.TextChoices):
        BOOKED = "booked", "Booked"
        ORDERED = "ordered", "Ordered"
        ANSWERED = "answered", "Answered a question"
        TRANSFERRED = "transferred", "Transferred"
        CALLBACK = "callback", "Callback queued"
        OTHER = "other", "Other"
        ABANDONED = "abandoned", "Abandoned (no log)"

    # Outcomes the agent may set itself; `abandoned` is only set by the sweep.
    AGENT_OUTCOMES = AGENT_OUTCOMES  # what the agent may record (core/call_contract.py)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    caller_number = models.CharField(max_length=32, blank=True)
    called_number = models.CharField(max_length=20)
    room = models.CharField(max_length=200, blank=True)
    sip_call_id = models.CharField(max_length=200, blank=True)
    # The SIP Call-ID as the carrier saw it (LiveKit's `sip.callIDFull`): what a carrier ticket quotes.
    sip_call_id_full = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_call_seconds = models.PositiveIntegerField(default=600)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    end_reason = models.CharField(max_length=500, blank=True)
    transferred_to = models.CharField(max_length=200, blank=True)
    # Usage, filled from the end-of-call log.
    llm_prompt_tokens = models.PositiveIntegerField(default=0)
    llm_completion_tokens = models.PositiveIntegerField(default=0)
    stt_seconds = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    tts_characters = models.PositiveIntegerField(default=0)
    # Per-turn latency figures as sent by the worker, plus averages for lists and totals.
    metrics = models.JSONField(default=dict, blank=True)
    avg_llm_ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    avg_tts_ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    avg_end_of_utterance_ms = models.PositiveIntegerField(null=True, blank=True)
    # From the end of the caller's speech to the agent's first audio, per generated reply: what the caller felt.
    avg_e2e_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    log_received_at = models.DateTimeField(null=True, blank=True)
    log_stored_at = models.DateTimeField(null=True, blank=True)
    # A call the owner made to try their agent (the admin's "Talk to your agent", a scenario run):
    # left out of counts, usage and digests, never texts or notifies anyone, and what it booked or
    # ordered is removed when it ends (voiceapi/trial_calls.py).
    is_test = models.BooleanField("test call", default=False)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["-started_at"]),
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["caller_number"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(duration_seconds__isnull=True) | Q(duration_seconds__gte=0), name="call_duration_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Call from {self.caller_number or 'unknown'} at {self.started_at:%Y-%m-%d %H:%M}"


class TranscriptTurn(models.Model):
    class Role(models.TextChoices):
        CALLER = "user", "Caller"
        AGENT = "assistant", "Agent"
        SYSTEM = "system", "System"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="turns")
    sequence = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField()
    offset_seconds = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    interrupted = models.BooleanField(default=False)

    class Meta:
        ordering = ["call", "sequence"]
        constraints = [models.UniqueConstraint(fields=["call", "sequence"], name="turn_unique_sequence")]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:60]}"


class ToolInvocation(models.Model):
    """A tool the agent called during the call, as reported in the end-of-call log."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="tool_invocations")
    sequence = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    is_error = models.BooleanField(default=False)
    offset_seconds = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["call", "sequence"]
        constraints = [models.UniqueConstraint(fields=["call", "sequence"], name="tool_invocation_unique_sequence")]

    def __str__(self) -> str:
        return self.name


class TransferAttempt(models.Model):
    """One try at handing the caller to a person, as reported in the end-of-call log: to whom, when,
    how long it rang and how it ended. Stored with the call's metadata when its log arrives."""

    class Outcome(models.TextChoices):
        ANSWERED = "answered", "Answered"
        BUSY = "busy", "Busy"
        DECLINED = "declined", "Declined"
        NO_ANSWER = "no_answer", "No answer"
        FAILED = "failed", "Failed"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="transfer_attempts")
    sequence = models.PositiveSmallIntegerField()
    target = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, default="cold", help_text="cold (SIP REFER) or warm.")
    offset_seconds = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                         help_text="When it started, in seconds from the start of the call.")
    rang_seconds = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    sip_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The SIP response, e.g. 486.")

    class Meta:
        ordering = ["call", "sequence"]
        constraints = [models.UniqueConstraint(fields=["call", "sequence"], name="transfer_attempt_unique_sequence")]

    def __str__(self) -> str:
        return f"{self.target}: {self.get_outcome_display()}"


class CallNote(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField(max_length=2000)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return self.text[:60]


class CallbackRequest(models.Model):
    """The callback queue: someone the business should call back."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="callback_requests")
    caller_number = models.CharField(max_length=32)
    caller_name = models.CharField(max_length=200, blank=True)
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    handled_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # Not before: the time promised to the caller (empty: as soon as the calling rules allow), then
    # the time of the agent's next try after one that did not reach them (calls/callback_dialing.py).
    call_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "-created"]
        indexes = [models.Index(fields=["status", "created"])]

    def __str__(self) -> str:
        return f"Call back {self.caller_number}: {self.reason[:40]}"


class CallbackAttempt(models.Model):
    """One time the agent called a queued callback back: from its dispatch to how it ended."""

    class Result(models.TextChoices):
        DIALING = "dialing", "Dialling"
        ANSWERED = "answered", "Answered"
        VOICEMAIL = "voicemail", "Voicemail: message left"
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy", "Busy"
        FAILED = "failed", "Failed"

    callback_request = models.ForeignKey(CallbackRequest, on_delete=models.CASCADE, related_name="attempts")
    call = models.OneToOneField(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="callback_attempt")
    result = models.CharField(max_length=10, choices=Result.choices, default=Result.DIALING)
    room = models.CharField(max_length=200)
    detail = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["callback_request", "started_at"]
        indexes = [models.Index(fields=["result", "started_at"])]

    def __str__(self) -> str:
        return f"{self.get_result_display()} at {self.started_at:%Y-%m-%d %H:%M}"


class DoNotCall(models.Model):
    """A customer number that asked not to be called: the agent never dials it again (a texted STOP,
    messaging.SmsOptOut, counts as well)."""

    number = models.CharField(max_length=32, unique=True)
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    noted_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "do-not-call number"

    def __str__(self) -> str:
        return f"Do not call {self.number}"


class IdempotencyRecord(models.Model):
    """The first response to a create request with an Idempotency-Key, replayed on retries."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    # sha256 of the action and the request body: the same key with a different request is refused
    # rather than answered with a response to a question that was not asked.
    request_hash = models.CharField(max_length=64, blank=True, default="")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "key"], name="idempotency_unique_key_per_call")]


class _RecordingsStorage(LazyObject):
    """settings.STORAGES["recordings"] (the filesystem, or an S3-compatible bucket), looked up when
    first used and again after the setting changes (as Django's own default_storage is): a FileField
    keeps the storage object it was given when the model class was built."""

    def _setup(self):
        self._wrapped = storages["recordings"]


_recordings_storage = _RecordingsStorage()


@receiver(setting_changed)
def _recordings_storage_reset(*, setting: str, **kwargs) -> None:
    if setting == "STORAGES":
        _recordings_storage._wrapped = empty


def recordings_storage():
    return _recordings_storage


class CallRecording(models.Model):
    """A call's audio: stereo Ogg/Opus, the caller on the left channel and the agent on the right.

    The file's name carries a random part and the storage is never served directly: the call page
    streams it after checking the listener's permission (calls/recordings.py, backoffice)."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="recording")
    audio = models.FileField(storage=recordings_storage, max_length=300)
    size_bytes = models.PositiveBigIntegerField()
    duration_seconds = models.DecimalField(max_digits=8, decimal_places=2)
    # Where the recording starts on the call's clock (the transcript's offsets): the player adds it.
    started_offset_seconds = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    # The windows (seconds into the recording) muted because a card number was said in them.
    muted = models.JSONField(default=list, blank=True)
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("listen_callrecording", "Can listen to call recordings")]

    def __str__(self) -> str:
        return f"Recording of {self.call}"
