"""`seed_demo` (and re-provisioning) never hands an existing owner the README password back, nor
their superuser flag (docs/HOSTILE_INPUT.md, "The deployment")."""
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django_tenants.utils import schema_context

from backoffice.login_throttle import login_failures_reset_all
from backoffice.tests.factories import SALON_HOST, SALON_OWNER


def log_in(username: str, password: str) -> int:
    return Client(HTTP_HOST=SALON_HOST).post("/admin/login/?next=/admin/",
                                             {"username": username, "password": password}).status_code


def test_it_keeps_an_owners_changed_password_and_rights(salon):
    login_failures_reset_all()
    with schema_context("salon"):
        owner = get_user_model().objects.get(username=SALON_OWNER[0])
        owner.set_password("a-new-secret-only-the-owner-knows")
        owner.is_superuser = False
        owner.save()

    call_command("seed_demo", verbosity=0)

    with schema_context("salon"):
        owner.refresh_from_db()
        assert owner.check_password("a-new-secret-only-the-owner-knows")
        assert not owner.check_password(SALON_OWNER[1])
        assert not owner.is_superuser
    assert log_in(*SALON_OWNER) == 200  # the README password no longer opens the admin
    login_failures_reset_all()


def test_it_creates_the_demo_owner_with_the_readme_password_when_there_is_none(salon):
    login_failures_reset_all()
    with schema_context("salon"):
        get_user_model().objects.filter(username=SALON_OWNER[0]).delete()

    call_command("seed_demo", verbosity=0)

    assert log_in(*SALON_OWNER) == 302
