"""The Django project.

The Celery app lives in `core.celery_app` (re-exported by `soniq_site.celery`) and is not imported here, as Django's Celery guide does:
every process that imports this package would carry it (~13 MB), and the voice worker's job
processes, which read settings but never send a task, are the ones that count memory per call.
`celery -A soniq_site` finds `soniq_site.celery` by itself, and every task module imports the app
from `core.celery_app`, so a process that sends a task has it configured.
"""
