import pytest

from calendars.tests.radicale_server import RadicaleServer


@pytest.fixture
def radicale():
    server = RadicaleServer()
    yield server
    server.stop()
