"""The safety net: follow-ups whose task was lost (broker down at commit, a worker killed) are
queued again by a periodic sweep; the sweep and the digest are on the beat schedule."""
from __future__ import annotations

import datetime as dt

from django_tenants.utils import tenant_context

from core import clock
from core.celery_app import app as celery_app


def test_the_sweep_and_the_digest_are_scheduled(settings):
    import backoffice.tasks  # noqa: F401 - registers the tasks (the digest is the back office's), as the worker's autodiscovery does
    import notifications.tasks  # noqa: F401

    for name in ("notifications-digests", "followups-requeue"):
        entry = settings.CELERY_BEAT_SCHEDULE[name]
        assert entry["task"] in celery_app.tasks and entry["schedule"] <= 900


def test_a_delivery_whose_task_was_lost_is_queued_again(salon, monkeypatch):
    from webhooks import services
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    queued: list[list[int]] = []
    monkeypatch.setattr(services, "webhook_deliveries_enqueue", lambda *, delivery_ids, countdown=0: queued.append(delivery_ids))
    with tenant_context(salon):
        endpoint = WebhookEndpoint.objects.create(url="https://crm.example/hook")
        lost = WebhookDelivery.objects.create(endpoint=endpoint, event_type="order.created", event_key="order:1:created",
                                              message_id="msg_lost", payload={}, next_attempt_at=clock.now() - dt.timedelta(minutes=5))
        WebhookDelivery.objects.create(endpoint=endpoint, event_type="order.created", event_key="order:2:created",
                                       message_id="msg_waiting", payload={}, next_attempt_at=clock.now() + dt.timedelta(minutes=5))
        WebhookDelivery.objects.create(endpoint=endpoint, event_type="order.created", event_key="order:3:created",
                                       message_id="msg_done", payload={}, status="delivered",
                                       next_attempt_at=clock.now() - dt.timedelta(minutes=5))
        assert services.webhook_deliveries_requeue() == 1
    assert queued == [[lost.pk]]


def test_a_notification_whose_task_was_lost_is_queued_again(salon, monkeypatch):
    from notifications import services
    from notifications.models import Notification

    queued: list = []
    monkeypatch.setattr(services, "notifications_enqueue", lambda *, notifications: queued.extend(notifications))
    with tenant_context(salon):
        lost = Notification.objects.create(event="message_left", event_key="note:1", channel="email",
                                           recipient="owner@salon.example", subject="s", body="b")
        Notification.objects.filter(pk=lost.pk).update(created=clock.now() - dt.timedelta(minutes=10))
        Notification.objects.create(event="message_left", event_key="note:2", channel="email",
                                    recipient="owner@salon.example", subject="s", body="b")  # just queued
        assert services.notifications_requeue() == 1
    assert [notification.pk for notification in queued] == [lost.pk]
