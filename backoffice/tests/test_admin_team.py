"""The Team page: an owner adds a person by name, email and role (Owner or Front desk); the person
gets an email with a link to choose their password; no password hashes or permission lists anywhere."""
import re

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django_tenants.utils import schema_context

from backoffice.tests.factories import SALON_HOST


def add_person(client, *, name="Dana Desk", email="Dana@Salon.example", role="front_desk"):
    return client.post("/admin/team/add/", {"name": name, "email": email, "role": role})


def test_the_home_page_offers_team_not_users_and_groups(salon_admin):
    page = salon_admin.get("/admin/").content.decode()

    assert '<a href="/admin/team/">Team</a>' in page
    assert "/admin/auth/user/" not in page and "/admin/auth/group/" not in page
    assert salon_admin.get("/admin/auth/user/").status_code == 404


def test_the_team_lists_the_owner_with_their_role(salon_admin):
    page = salon_admin.get("/admin/team/").content.decode()

    assert "owner@salon.example" in page and "Owner" in page
    assert "pbkdf2" not in page and "Permissions" not in page


def test_an_owner_adds_front_desk_who_chooses_their_own_password(salon_admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = add_person(salon_admin)

    assert response.status_code == 302
    with schema_context("salon"):
        dana = get_user_model().objects.get(username="dana@salon.example")
        assert (dana.first_name, dana.last_name, dana.is_staff, dana.is_superuser) == ("Dana", "Desk", True, False)
        assert list(dana.groups.values_list("name", flat=True)) == ["Front desk"]
        assert not dana.has_usable_password()
    (email,) = mail.outbox
    assert email.to == ["dana@salon.example"]
    link = re.search(r"http\S+/admin/password/set/\S+/", email.body).group(0)
    path = link.split("salon.localhost", 1)[1]

    client = Client(HTTP_HOST=SALON_HOST)
    form_page = client.get(path, follow=True)
    assert "new_password1" in form_page.content.decode()
    done = client.post(form_page.redirect_chain[-1][0] if form_page.redirect_chain else path,
                       {"new_password1": "a-long-desk-pass-2026", "new_password2": "a-long-desk-pass-2026"}, follow=True)
    assert "Your password has been set" in done.content.decode()
    assert client.login(username="dana@salon.example", password="a-long-desk-pass-2026")
    assert client.get("/admin/bookings/booking/").status_code == 200
    assert client.get("/admin/team/").status_code == 403


def test_an_owner_makes_another_owner_and_cannot_demote_themselves(salon_admin):
    add_person(salon_admin, name="Olga Owner", email="olga@salon.example", role="owner")
    with schema_context("salon"):
        olga = get_user_model().objects.get(username="olga@salon.example")
        me = get_user_model().objects.get(username="owner@salon.example")
        assert olga.is_superuser

    response = salon_admin.post(f"/admin/team/{me.pk}/", {"name": "Bella Owner", "email": "owner@salon.example",
                                                          "role": "front_desk", "active": "on"})

    assert "You cannot remove your own Owner role" in response.content.decode()
    with schema_context("salon"):
        assert get_user_model().objects.get(pk=me.pk).is_superuser


def test_it_refuses_an_email_already_on_the_team(salon_admin):
    response = add_person(salon_admin, email="OWNER@salon.example")
    assert "is already on the team" in response.content.decode()


def test_the_operator_keeps_djangos_own_user_pages(operator_admin):
    assert operator_admin.get("/admin/auth/user/").status_code == 200
