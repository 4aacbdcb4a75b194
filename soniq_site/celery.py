"""`celery -A soniq_site` looks for the app here. It is built in `core.celery_app`, at the bottom of the
layers, because every domain's task module needs it (see docs/ARCHITECTURE.md)."""
from core.celery_app import app

__all__ = ["app"]
