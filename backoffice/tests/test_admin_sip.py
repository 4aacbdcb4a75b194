"""The operator admin and the LiveKit SIP trunk: numbers added, renumbered or removed in the admin
reach the trunk after the commit, and every number shows whether it is live (and if not, why)."""
from __future__ import annotations

from tenants.models import PhoneNumber, Tenant
from tenants.tests.sip_fixtures import DEMO_NUMBERS, TRUNK, run_queued_syncs
from voiceworker.tests.fakes import free_port_url

NEW_NUMBER = "+15550100077"


def add_number(client, tenant: Tenant, number: str, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/admin/tenants/phonenumber/add/", {"number": number, "tenant": tenant.pk, "label": "Main"})


def test_it_puts_a_number_added_in_the_admin_on_the_trunk(operator_admin, salon, sip_settings, queued_syncs,
                                                          django_capture_on_commit_callbacks):
    response = add_number(operator_admin, salon, "(555) 010-0077", django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert queued_syncs == ["sync"]
    assert run_queued_syncs(queued_syncs) == ["fixed"]
    assert sip_settings.numbers_of(TRUNK) == DEMO_NUMBERS | {NEW_NUMBER}
    page = operator_admin.get(f"/admin/tenants/phonenumber/?q={NEW_NUMBER[1:]}").content.decode()
    assert NEW_NUMBER in page and '<td class="field-phone_line">live</td>' in page


def test_it_takes_a_number_deleted_in_the_admin_off_the_trunk(operator_admin, salon, sip_settings, queued_syncs,
                                                              django_capture_on_commit_callbacks):
    add_number(operator_admin, salon, NEW_NUMBER, django_capture_on_commit_callbacks)
    run_queued_syncs(queued_syncs)
    number = PhoneNumber.objects.get(number=NEW_NUMBER)

    with django_capture_on_commit_callbacks(execute=True):
        operator_admin.post(f"/admin/tenants/phonenumber/{number.pk}/delete/", {"post": "yes"})

    assert run_queued_syncs(queued_syncs) == ["fixed"]
    assert sip_settings.numbers_of(TRUNK) == DEMO_NUMBERS


def test_it_moves_a_renumbered_line_on_the_tenants_page(operator_admin, salon, sip_settings, queued_syncs,
                                                        django_capture_on_commit_callbacks):
    run_queued_syncs(["sync"])
    number = PhoneNumber.objects.get(number="+15550100001")
    form = {"name": salon.name, "timezone": salon.timezone, "country": salon.country, "currency": salon.currency,
            "domains-TOTAL_FORMS": "0", "domains-INITIAL_FORMS": "0",
            "phone_numbers-TOTAL_FORMS": "1", "phone_numbers-INITIAL_FORMS": "1",
            "phone_numbers-0-id": number.pk, "phone_numbers-0-tenant": salon.pk,
            "phone_numbers-0-number": "+15550100088", "phone_numbers-0-label": ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_admin.post(f"/admin/tenants/tenant/{salon.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    # Until the sync has run, the new number is not claimed to be live.
    assert PhoneNumber.objects.get(pk=number.pk).sip_status == PhoneNumber.SipStatus.PENDING
    assert "+15550100088 (waiting for the LiveKit sync)" in operator_admin.get("/admin/tenants/tenant/").content.decode()
    run_queued_syncs(queued_syncs)
    assert sip_settings.numbers_of(TRUNK) == {"+15550100088", "+493055500002"}


def test_it_shows_why_a_number_is_not_live(operator_admin, salon, sip_settings, queued_syncs, settings,
                                           django_capture_on_commit_callbacks):
    settings.LIVEKIT_URL = free_port_url()

    add_number(operator_admin, salon, NEW_NUMBER, django_capture_on_commit_callbacks)
    run_queued_syncs(queued_syncs)

    number = PhoneNumber.objects.get(number=NEW_NUMBER)  # the number stands
    page = operator_admin.get(f"/admin/tenants/phonenumber/{number.pk}/change/").content.decode()
    assert "not live: LiveKit could not be reached to list the SIP trunks" in page
    tenants_page = operator_admin.get("/admin/tenants/tenant/").content.decode()
    assert f"{NEW_NUMBER} (not live)" in tenants_page
    assert "LiveKit SIP trunk: error: LiveKit could not be reached" in tenants_page


def test_it_says_the_numbers_are_not_managed_without_livekit_settings(operator_admin, salon):
    page = operator_admin.get(f"/admin/tenants/tenant/{salon.pk}/change/").content.decode()

    assert "not managed by Soniq (LiveKit SIP settings unset)" in page
