"""Fixtures the calls tests share."""
import pytest

from tenants.models import IngestionDeadLetter


@pytest.fixture
def dead_letters():
    """Dead letters live in the public schema, which committed_db does not clean."""
    before = set(IngestionDeadLetter.objects.values_list("pk", flat=True))
    yield lambda: IngestionDeadLetter.objects.exclude(pk__in=before)
    IngestionDeadLetter.objects.exclude(pk__in=before).delete()
