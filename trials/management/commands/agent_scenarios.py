"""`python manage.py agent_scenarios --tenant SLUG`: run a business's scenario tests against its real
agent and print the verdicts; exits 1 when any scenario fails (for operators and CI)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from tenants.models import Tenant
from trials.scenario_runs import scenario_run_create, scenario_run_execute


class Command(BaseCommand):
    help = "Run a business's scenario tests against its real agent; exit 1 when any fails."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The business's slug (its schema name).")

    def handle(self, *args, tenant: str, **options) -> None:
        business = Tenant.objects.filter(schema_name=tenant).first()
        if business is None or business.schema_name == "public":
            raise CommandError(f"There is no business {tenant!r}.")
        with tenant_context(business):
            run = scenario_run_execute(run=scenario_run_create(requested_by="manage.py agent_scenarios"))
            results = list(run.results.order_by("pk"))
            for result in results:
                self.stdout.write(f"{'PASS' if result.passed else 'FAIL'}  {result.scenario_name}")
                if result.error:
                    self.stdout.write(f"      {result.error}")
                for check in result.checks:
                    self.stdout.write(f"      check {'ok  ' if check['passed'] else 'FAIL'} {check['check'].get('kind')}"
                                      f" {check['check'].get('tool') or check['check'].get('outcome') or ''}: {check['detail']}")
                for verdict in result.verdicts:
                    self.stdout.write(f"      judge {'ok  ' if verdict['passed'] else 'FAIL'} {verdict['criterion']}"
                                      f" — {verdict['reason']}")
        failed = [result for result in results if not result.passed]
        self.stdout.write(f"{len(results) - len(failed)} of {len(results)} scenarios passed.")
        if failed:
            raise CommandError(f"{len(failed)} scenario(s) failed: {', '.join(result.scenario_name for result in failed)}.")
