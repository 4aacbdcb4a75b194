from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from calls.models import Call
from core import clock
from provisioning.demo_activity import demo_activity_clear, demo_activity_seed
from tenants.models import Tenant

DEMO_SCHEMAS = ["salon", "pizzeria"]


class Command(BaseCommand):
    help = ("Fill the demo tenants with 30 days of plausible phone activity (calls with transcripts, bookings, "
            "orders, callbacks, SMS) so the dashboards have something to show. Demo tenants only.")

    def add_arguments(self, parser):
        parser.add_argument("--replace", action="store_true",
                            help="Delete the demo tenants' existing calls, bookings, orders, callbacks and SMS first.")
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        tenants = list(Tenant.objects.filter(schema_name__in=DEMO_SCHEMAS).order_by("schema_name"))
        if not tenants:
            raise CommandError("No demo tenants: run `manage.py seed_demo` first.")
        now = clock.now()
        for tenant in tenants:
            with schema_context(tenant.schema_name):
                has_activity = Call.objects.exists()
            if has_activity and not options["replace"]:
                self.stdout.write(f"{tenant.schema_name}: already has calls, left alone (use --replace to start over).")
                continue
            if has_activity:
                demo_activity_clear(tenant=tenant)
            result = demo_activity_seed(tenant=tenant, now=now, days=options["days"], seed=options["seed"])
            self.stdout.write(f"{tenant.schema_name}: {result.calls} calls, {result.bookings} bookings, "
                              f"{result.orders} orders, {result.callbacks} callbacks, {result.sms} SMS.")
