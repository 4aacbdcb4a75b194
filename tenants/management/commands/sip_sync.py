from django.core.management.base import BaseCommand, CommandError

from tenants import sip_sync
from tenants.sip_trunk import SipTrunkError, sip_trunk_config_problem


class Command(BaseCommand):
    help = ("Make LiveKit's SIP trunks (inbound, and outbound when SIP_OUTBOUND_ADDRESS is set) and dispatch rule match the phone-number registry: add missing numbers, "
            "remove numbers no tenant owns (from Soniq's trunk only), fix the rule. --check only reports, and "
            "exits 1 on drift.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Report drift without changing LiveKit; exit 1 on drift.")

    def handle(self, *args, check: bool, **options):
        problem = sip_trunk_config_problem()
        if problem:
            self.stdout.write(problem)
            return
        try:
            report = sip_sync.sip_sync_run(apply=not check)
        except SipTrunkError as exc:
            raise CommandError(str(exc)) from exc
        where = f"trunk {report.trunk_id or '(none)'}, dispatch rule {report.dispatch_rule_id or '(none)'}" + (
            f", outbound trunk {report.outbound_trunk_id}" if report.outbound_trunk_id else "")
        if report.in_step:
            self.stdout.write(f"LiveKit matches the registry ({where}, {len(report.numbers_on_trunk)} numbers).")
            return
        for problem in report.drift:
            self.stdout.write(f"{'fixed' if report.applied else 'drift'}: {problem}")
        if check:
            raise CommandError(f"LiveKit does not match the registry ({where}); `manage.py sip_sync` fixes it.")
        self.stdout.write(f"LiveKit now matches the registry ({where}, {len(report.numbers_on_trunk)} numbers).")
