from django.core.management.base import BaseCommand, CommandError

from provisioning.services import tenant_delete
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Delete a tenant: drops its schema and frees its domains and phone numbers."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, slug: str, yes: bool, **options):
        tenant = Tenant.objects.filter(schema_name=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        if not yes and input(f"Delete {tenant.name} and ALL its data? Type the slug to confirm: ") != slug:
            raise CommandError("Not confirmed; nothing deleted.")
        tenant_delete(tenant=tenant)
        self.stdout.write(f"Deleted tenant {slug}.")
