import copy
import json

import pytest

from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.testing.kit import KIT_DIR

DEV_KIT_CATALOG = KIT_DIR / "catalog.json"

_BUILTIN = json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8"))


@pytest.fixture
def catalog_doc() -> dict:
    """A fresh copy of the shipped catalog document, to be changed by the test."""
    return copy.deepcopy(_BUILTIN)


@pytest.fixture
def loaded_catalog(db) -> dict:
    """The shipped catalog, loaded; returns the load counts."""
    return catalog_load(data=copy.deepcopy(_BUILTIN))
