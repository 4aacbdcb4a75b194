from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_SPECS = ["salon.yaml", "pizzeria.yaml"]


class Command(BaseCommand):
    help = "Provision the two demo tenants (a hair salon and a pizzeria) from demo/*.yaml."

    def handle(self, *args, **options):
        for name in DEMO_SPECS:
            call_command("provision_tenant", str(settings.BASE_DIR / "demo" / name), verbosity=options["verbosity"], stdout=self.stdout)
