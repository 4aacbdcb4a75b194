"""Admin clients logged in as each demo owner and as the operator: pytest fixtures every test may use
(registered in the root conftest; hosts and factories: factories.py)."""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from backoffice.tests.factories import (
    OPERATOR_HOST,
    PIZZERIA_HOST,
    PIZZERIA_OWNER,
    SALON_HOST,
    SALON_OWNER,
    owner_client,
)


@pytest.fixture
def salon_admin(salon) -> Client:
    return owner_client("salon", SALON_HOST, SALON_OWNER[0])


@pytest.fixture
def pizzeria_admin(pizzeria) -> Client:
    return owner_client("pizzeria", PIZZERIA_HOST, PIZZERIA_OWNER[0])


@pytest.fixture
def operator_admin(db) -> Client:
    """A client logged in as a platform operator (a superuser in the public schema)."""
    # An earlier request in this process may have left the connection on a tenant's schema.
    connection.set_schema_to_public()
    user = get_user_model().objects.create_superuser(username="operator", email="op@soniq.example",
                                                     password="operator-pass-2026")
    client = Client(HTTP_HOST=OPERATOR_HOST)
    client.force_login(user)
    return client
