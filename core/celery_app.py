"""The Celery app. Tasks are tenant-aware: tenant-schemas-celery records the schema a task was
sent from and switches to it in the worker before the task runs."""
import os

from celery.signals import task_postrun, task_prerun
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soniq_site.settings")

app = CeleryApp("soniq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**kwargs) -> None:
    """Around every task, what Django does around every request: drop a database connection that
    is broken or older than CONN_MAX_AGE, keep a healthy one. Celery's own Django fixup would close
    it before and after every task instead (a new PostgreSQL connection per task, most of a small
    task's cost); CELERY_DB_REUSE_MAX in settings turns that off."""
    from django.db import close_old_connections

    # An eager task (`task.apply()`) runs inside its caller, often inside the caller's transaction:
    # close_old_connections() would close that connection mid-transaction (it drops any connection
    # not in autocommit). Celery's own fixup skips eager tasks for the same reason.
    task = kwargs.get("task") or kwargs.get("sender")
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    close_old_connections()
