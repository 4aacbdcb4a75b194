from django.apps import AppConfig


class TrialsConfig(AppConfig):
    """No models: the scenario run engine, its Celery task and `manage.py agent_scenarios`."""

    name = "trials"
    verbose_name = "Trying the agent"
