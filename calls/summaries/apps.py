from django.apps import AppConfig


class SummariesConfig(AppConfig):
    # A call's summary belongs to the call; its own app (label "summaries", as its tables and
    # migrations were named) because it is written by its own task after the log is stored.
    name = "calls.summaries"
    label = "summaries"
    verbose_name = "Call summaries"
