import pytest
from django_tenants.utils import tenant_context


@pytest.fixture
def in_salon(salon):
    """Inside the demo salon's schema (America/New_York), in the test's rolled-back transaction."""
    with tenant_context(salon):
        yield salon
