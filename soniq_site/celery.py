"""The Celery app. Tasks are tenant-aware: tenant-schemas-celery records the schema a task was
sent from and switches to it in the worker before the task runs."""
import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")

app = CeleryApp("soniq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
