from django.apps import AppConfig


class ScenariosConfig(AppConfig):
    name = "scenarios"
    verbose_name = "Scenario tests"
    default_auto_field = "django.db.models.BigAutoField"
