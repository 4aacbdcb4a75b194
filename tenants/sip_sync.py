"""Keeping LiveKit's SIP trunk in step with the phone-number registry, and remembering how it went.

Every change to the registry (provisioning, a number added or removed in the admin, deprovisioning)
calls `sip_sync_request()` (tenants/sip_requests.py), which queues one whole-registry sync after the change commits: the
database change never waits for LiveKit, nor is undone when LiveKit fails. The sync
(`sip_sync_run`, from the `tenants.sip_trunk_sync` task or `manage.py sip_sync`) then records on each
PhoneNumber whether the trunk carries it ("live", or "not live" with the reason) and on the one
SipTrunkStatus row whether LiveKit matched; /healthz and the operator admin read only those.
"""
from __future__ import annotations

import logging

from django.db import connection, transaction

from core import clock
from tenants.models import PhoneNumber, SipTrunkStatus
from tenants.sip_trunk import SipTrunkError, SipTrunkReport, sip_trunk_config, sip_trunk_config_problem, trunk_reconcile

logger = logging.getLogger("tenants.sip")

# pg_advisory_xact_lock key ("SIPS"): one sync at a time, see sip_sync_run.
SYNC_LOCK_KEY = 0x53495053

_off_logged = False


def sip_sync_enabled() -> bool:
    """Whether Soniq manages the trunk; the first time it does not, say why in the log (once per process)."""
    global _off_logged
    problem = sip_trunk_config_problem()
    if problem and not _off_logged:
        logger.info(problem)
        _off_logged = True
    return not problem


def sip_sync_run(*, apply: bool, final: bool = True) -> SipTrunkReport:
    """Compare LiveKit with the registry and, if `apply`, fix LiveKit; record the outcome either way.

    Raises SipTrunkError when LiveKit failed (after recording it). `final=False` (a try the task will
    repeat if the error is transient) records a transient failure as "retrying". The feature must be on (see `sip_sync_enabled`).
    """
    config = sip_trunk_config()
    assert config is not None, "sip_sync_run needs the LiveKit SIP settings"
    error: SipTrunkError | None = None
    with transaction.atomic():
        # Two syncs at once would each remove the number the other just added (each read the registry
        # before the other's number committed). The lock makes the second read after the first wrote.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SYNC_LOCK_KEY])
        numbers = set(PhoneNumber.objects.values_list("number", flat=True))
        try:
            report = trunk_reconcile(config=config, numbers=numbers, apply=apply)
        except SipTrunkError as exc:
            error = exc
            _record_failure(exc, numbers, final=final)
        else:
            _record_report(report, numbers)
    if error is not None:
        raise error
    return report


def _record_report(report: SipTrunkReport, numbers: set[str]) -> None:
    now = clock.now()
    on_trunk = numbers & report.numbers_on_trunk
    PhoneNumber.objects.filter(number__in=on_trunk).update(
        sip_status=PhoneNumber.SipStatus.LIVE, sip_error="", sip_checked_at=now)
    PhoneNumber.objects.filter(number__in=numbers - on_trunk).update(
        sip_status=PhoneNumber.SipStatus.NOT_LIVE, sip_checked_at=now,
        sip_error="Not on LiveKit's SIP trunk; `manage.py sip_sync` puts it there.")
    if report.in_step:
        state, detail = SipTrunkStatus.State.IN_STEP, ""
    elif report.applied:
        state, detail = SipTrunkStatus.State.IN_STEP, "Fixed: " + "; ".join(report.drift) + "."
    else:
        drift = "; ".join(report.drift)
        state, detail = SipTrunkStatus.State.DRIFT, drift[0].upper() + drift[1:] + "."
    _status_write(state=state, detail=detail, checked_at=now, trunk_id=report.trunk_id,
                  dispatch_rule_id=report.dispatch_rule_id)
    if report.drift:
        log = logger.info if report.applied else logger.warning
        log("LiveKit SIP %s: %s", "fixed" if report.applied else "drift", "; ".join(report.drift))


def _record_failure(exc: SipTrunkError, numbers: set[str], *, final: bool) -> None:
    now = clock.now()
    retrying = exc.transient and not final  # the task retries only what may pass later
    reason = str(exc) + ("; retrying." if retrying else "")
    if exc.numbers_on_trunk is None:
        # LiveKit was not reached, so nothing is known: numbers that were live are left so (LiveKit
        # keeps them while Soniq cannot see it), the ones waiting for this sync are not live.
        not_live = PhoneNumber.objects.filter(number__in=numbers).exclude(sip_status=PhoneNumber.SipStatus.LIVE)
    else:
        # The trunk was read before the failing write: what it carries rings, the rest does not.
        PhoneNumber.objects.filter(number__in=numbers & exc.numbers_on_trunk).update(
            sip_status=PhoneNumber.SipStatus.LIVE, sip_error="", sip_checked_at=now)
        not_live = PhoneNumber.objects.filter(number__in=numbers - exc.numbers_on_trunk)
    not_live.update(sip_status=PhoneNumber.SipStatus.NOT_LIVE, sip_error=reason, sip_checked_at=now)
    _status_write(state=SipTrunkStatus.State.ERROR, detail=reason, checked_at=now)
    logger.log(logging.WARNING if retrying else logging.ERROR, "LiveKit SIP sync failed: %s", reason)


def _status_write(**values) -> None:
    SipTrunkStatus.objects.update_or_create(pk=1, defaults=values)


# --- reads (for /healthz and the operator admin) -------------------------------------------------

def sip_trunk_status() -> SipTrunkStatus | None:
    """The last recorded state of the trunk (None before the first sync or check)."""
    return SipTrunkStatus.objects.filter(pk=1).first()


def sip_health() -> str:
    """One word or sentence for /healthz, from the last recorded state: no LiveKit call."""
    if sip_trunk_config_problem():
        return "off"
    status = sip_trunk_status()
    if status is None:
        return "unknown: no sync or check has run yet"
    if status.state == SipTrunkStatus.State.IN_STEP:
        return "ok"
    return f"{status.state}: {status.detail}"
