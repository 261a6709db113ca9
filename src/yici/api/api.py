"""The JSON API at /api/ (OpenAPI at /api/openapi.json).

Session authentication for now (with CSRF on writes); every endpoint reads through the same
selectors as the pages, so area scoping is identical.
"""

from ninja import NinjaAPI
from ninja.security import django_auth

from yici.api.routers import registry_router, whoami_router
from yici.catalog.api import router as catalog_router

api = NinjaAPI(
    title="Yici API",
    version="1",
    description="Enter once, use many times. All data is limited to the caller's area.",
    auth=django_auth,
    urls_namespace="api",
)
api.add_router("/me", whoami_router)
api.add_router("/registry", registry_router)
api.add_router("/catalog", catalog_router)
api.add_router("/exchange", "yici.exchange.api.router")
api.add_router("/inbox", "yici.inbox.api.router")
