"""`python manage.py catalogs_update`: write `locale/django.pot` from the sentences the code marks for
translation, bring every language's `django.po` up to it (new sentences added untranslated, removed
ones dropped, translations kept) and compile the `.mo` files Django reads. Run it after changing a
sentence a caller hears; then translate what `catalogs_update` reports missing (core/catalogs.py)."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from core.catalogs import catalogs_update


class Command(BaseCommand):
    help = "Extract the caller-facing sentences into locale/django.pot and update and compile every catalog."

    def handle(self, *args, **options):
        for language, missing in catalogs_update().items():
            state = "complete" if not missing else f"{len(missing)} sentences to translate"
            self.stdout.write(f"{language}: {state}")
