"""`manage.py replay_dead_letters [--tenant slug] [--id N]`: store call logs the ingestion task
gave up on, now that whatever failed (a locked table, a database outage) is fixed."""
from django.core.management.base import BaseCommand, CommandError

from calls.log_storage import ingestion_dead_letter_replay
from tenants.models import IngestionDeadLetter


class Command(BaseCommand):
    help = "Replay dead-lettered call logs (those not replayed yet) and mark them replayed."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant's dead letters (its slug).")
        parser.add_argument("--id", type=int, action="append", dest="ids",
                            help="Only this dead letter; repeat for several. Replays it even if replayed before.")

    def handle(self, *args, tenant=None, ids=None, **options):
        dead_letters = IngestionDeadLetter.objects.select_related("tenant").order_by("created")
        if tenant:
            dead_letters = dead_letters.filter(tenant__schema_name=tenant)
        if ids:
            dead_letters = dead_letters.filter(pk__in=ids)
            missing = set(ids) - set(dead_letters.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No dead letter with id {', '.join(map(str, sorted(missing)))}"
                                   + (f" for tenant {tenant}." if tenant else "."))
        else:
            dead_letters = dead_letters.filter(replayed_at__isnull=True)

        failed = 0
        for dead_letter in dead_letters:
            label = f"#{dead_letter.pk} {dead_letter.tenant.slug} call {dead_letter.call_id}"
            try:
                result = ingestion_dead_letter_replay(dead_letter=dead_letter)
            except Exception as exc:  # report and go on with the others; the row keeps the error
                failed += 1
                self.stderr.write(f"{label}: failed again: {exc.__class__.__name__}: {exc}")
                continue
            self.stdout.write(f"{label}: {result}")
        if failed:
            raise CommandError(f"{failed} dead letter(s) could not be replayed.")
        if not dead_letters:
            self.stdout.write("Nothing to replay.")
