"""Celery queues: SMS, call-log ingestion and periodic maintenance each have their own, so a backlog
of one never delays the others; a worker started without -Q (docker compose, `make run`) serves all."""
from core.celery_app import app


def routed_queue(task_name: str) -> str:
    app.loader.import_default_modules()
    return app.amqp.router.route({}, task_name)["queue"].name


def test_sms_ingestion_and_maintenance_tasks_go_to_their_own_queues():
    assert routed_queue("calls.sms_send") == "messages"
    assert routed_queue("calls.call_log_store") == "ingest"
    for name in ("calls.calls_close_abandoned", "bookings.booking_reminders_send", "tenants.tenant_spare_schemas_fill"):
        assert routed_queue(name) == "maintenance"


def test_every_task_lands_in_a_queue_a_default_worker_consumes():
    app.loader.import_default_modules()
    consumed = {queue.name for queue in app.amqp.queues.values()}
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert len(ours) >= 5
    assert {routed_queue(name) for name in ours} <= consumed == {"celery", "messages", "ingest", "maintenance", "webhooks"}
