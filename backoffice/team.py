"""The owner's "Team" page: the people who log in to the business's admin, each with a role (Owner or
Front desk), added by name and email. A new person gets an email with a link to choose their own
password; nobody types, sees or sends a password. Django's stock Users and Groups pages (password
hashes, permission lists) stay on the operator's site only.

Roles map onto what Django checks: an Owner is a superuser of the tenant's schema; Front desk is a
staff account in the provisioned "Front desk" group (provisioning.services.FRONT_DESK_PERMISSIONS).
"""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from provisioning.services import FRONT_DESK_GROUP

OWNER, FRONT_DESK = "owner", "front_desk"
ROLES = [(OWNER, "Owner: everything, including the agent, prices and the team"),
         (FRONT_DESK, "Front desk: bookings, orders, calls and callbacks; not the agent, prices or team")]


def member_role(user) -> str:
    if user.is_superuser:
        return "Owner"
    if user.groups.filter(name=FRONT_DESK_GROUP).exists():
        return "Front desk"
    return "Custom (set by the operator)"


def _role_apply(user, role: str) -> None:
    user.is_staff = True
    user.is_superuser = role == OWNER
    user.save()
    front_desk, _ = Group.objects.get_or_create(name=FRONT_DESK_GROUP)
    if role == FRONT_DESK:
        user.groups.add(front_desk)
    else:
        user.groups.remove(front_desk)


def set_password_link(*, user, domain: str) -> str:
    """A one-time link (Django's password-reset token: it stops working once the password is set or
    after PASSWORD_RESET_TIMEOUT) to the page where `user` chooses their password."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.SITE_SCHEME}://{domain}/admin/password/set/{uid}/{token}/"


def set_password_link_send(*, user, domain: str, business: str, invited_by: str = "") -> None:
    """Email `user` the link to choose their password for `business`'s admin at `domain`."""
    who = f"{invited_by} added you" if invited_by else "You have been added"
    send_mail(
        subject=f"Your login for {business}",
        message=(f"{who} to {business}'s phone line on Soniq.\n\n"
                 f"Choose your password here (the link works once, for a few days):\n"
                 f"{set_password_link(user=user, domain=domain)}\n\n"
                 f"Then log in at {settings.SITE_SCHEME}://{domain}/admin/ with {user.email}."),
        from_email=None, recipient_list=[user.email],
    )


def team_member_add(*, name: str, email: str, role: str):
    """A new person on the team, without a usable password until they choose one by the link."""
    first, _, last = name.strip().partition(" ")
    with transaction.atomic():
        user = get_user_model()(username=email, email=email, first_name=first, last_name=last.strip())
        user.set_unusable_password()
        _role_apply(user, role)
    return user


def team_member_change(*, user, name: str, email: str, role: str, active: bool):
    first, _, last = name.strip().partition(" ")
    with transaction.atomic():
        user.first_name, user.last_name = first, last.strip()
        user.email = user.username = email
        user.is_active = active
        _role_apply(user, role)
    return user


class TeamMemberForm(forms.Form):
    name = forms.CharField(max_length=150)
    email = forms.EmailField(help_text="They log in with it.")
    role = forms.ChoiceField(choices=ROLES, widget=forms.RadioSelect)
    active = forms.BooleanField(required=False, initial=True, help_text="Untick to stop them logging in.")

    def __init__(self, *args, member=None, editor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.member, self.editor = member, editor
        if member is None:
            del self.fields["active"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        others = get_user_model().objects.filter(username__iexact=email)
        if self.member is not None:
            others = others.exclude(pk=self.member.pk)
        if others.exists():
            raise forms.ValidationError(f"{email} is already on the team.")
        return email

    def clean(self):
        cleaned = super().clean()
        if self.member is not None and self.member == self.editor:
            # Nobody locks themselves out: another owner must demote or deactivate them.
            if cleaned.get("role") != OWNER or not cleaned.get("active", True):
                raise forms.ValidationError("You cannot remove your own Owner role or deactivate yourself; "
                                            "ask another owner.")
        return cleaned


class TeamViews:
    """The Team pages on the tenant admin site (no model of their own: they edit auth users)."""

    def __init__(self, site):
        self.site = site

    def _context(self, request, title: str, **extra):
        request.current_app = self.site.name
        return {**self.site.each_context(request), "title": title, "subtitle": None, **extra}

    def _domain(self, request) -> str:
        return request.get_host().split(":")[0]

    def list_view(self, request):
        if not request.user.has_perm("auth.view_user"):
            raise PermissionDenied
        members = [{"user": user, "role": member_role(user)}
                   for user in get_user_model().objects.order_by("-is_superuser", "first_name", "username")
                   .prefetch_related("groups")]
        return TemplateResponse(request, "admin/soniq/team_list.html", self._context(
            request, "Team", members=members, can_add=request.user.has_perm("auth.add_user"),
            can_change=request.user.has_perm("auth.change_user")))

    def add_view(self, request):
        if not request.user.has_perm("auth.add_user"):
            raise PermissionDenied
        form = TeamMemberForm(request.POST or None, editor=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            user = team_member_add(name=data["name"], email=data["email"], role=data["role"])
            from django.db import connection

            transaction.on_commit(lambda: set_password_link_send(
                user=user, domain=self._domain(request), business=connection.tenant.name,
                invited_by=request.user.get_full_name() or request.user.username))
            messages.success(request, f"Added {data['name']} as {member_role(user)}. They got an email with a link "
                                      "to choose their password.")
            return HttpResponseRedirect(reverse(f"{self.site.name}:team"))
        return TemplateResponse(request, "admin/soniq/team_form.html", self._context(
            request, "Add a person to the team", form=form))

    def change_view(self, request, user_id: int):
        if not request.user.has_perm("auth.change_user"):
            raise PermissionDenied
        member = get_user_model().objects.filter(pk=user_id).first()
        if member is None:
            return HttpResponseRedirect(reverse(f"{self.site.name}:team"))
        initial = {"name": member.get_full_name() or member.username, "email": member.email or member.username,
                   "role": OWNER if member.is_superuser else FRONT_DESK, "active": member.is_active}
        form = TeamMemberForm(request.POST or None, initial=initial, member=member, editor=request.user)
        if request.method == "POST" and "_send_link" in request.POST:
            from django.db import connection

            set_password_link_send(user=member, domain=self._domain(request), business=connection.tenant.name)
            messages.success(request, f"Sent {member.email} a link to choose a new password.")
            return HttpResponseRedirect(reverse(f"{self.site.name}:team_change", args=[member.pk]))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            team_member_change(user=member, name=data["name"], email=data["email"], role=data["role"],
                               active=data["active"])
            messages.success(request, f"Saved {data['name']}.")
            return HttpResponseRedirect(reverse(f"{self.site.name}:team"))
        return TemplateResponse(request, "admin/soniq/team_form.html", self._context(
            request, member.get_full_name() or member.username, form=form, member=member))
