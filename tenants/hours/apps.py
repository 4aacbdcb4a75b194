from django.apps import AppConfig


class HoursConfig(AppConfig):
    # Per-tenant like `tenants.agent`: django-tenants routes whole apps, and `tenants` is public.
    name = "tenants.hours"
    label = "hours"
    verbose_name = "Opening hours"
