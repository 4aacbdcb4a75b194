import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from provisioning.services import TenantSpecError, tenant_provision


def load_spec(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CommandError(f"{path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from exc


class Command(BaseCommand):
    help = "Create a tenant from a JSON or YAML spec, or update it when its slug exists. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("spec", type=Path, help="Path to the tenant spec (.json, .yaml or .yml).")

    def handle(self, *args, spec: Path, **options):
        try:
            result = tenant_provision(spec=load_spec(spec))
        except TenantSpecError as exc:
            raise CommandError(f"Invalid spec {spec}: {exc}") from exc
        verb = "Created" if result.created else ("Updated" if result.changes else "Unchanged")
        self.stdout.write(f"{verb} tenant {result.tenant.schema_name} ({result.tenant.name}).")
        for change in result.changes if options["verbosity"] > 1 else []:
            self.stdout.write(f"  {change}")
