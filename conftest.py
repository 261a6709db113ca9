import pytest
from django.utils import translation

pytest_plugins = ["yici.testing.fixtures"]


@pytest.fixture(autouse=True)
def _english_messages():
    """Tests read messages in English; pages still pick their language per request (default 简体中文)."""
    with translation.override("en"):
        yield
