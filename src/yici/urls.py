from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from yici.api.api import api

urlpatterns = [
    path("", include("yici.web.urls")),
    path("accounts/", include("yici.accounts.urls")),
    path("o/", include("yici.accounts.oidc_urls")),
    path("catalog/", include("yici.catalog.urls")),
    path("audit/", include("yici.audit.urls")),
    path("registry/", include("yici.registry.urls")),
    path("exchange/", include("yici.exchange.urls")),
    path("reports/", include("yici.reports.urls")),
    path("inbox/", include("yici.inbox.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/", api.urls),
]

handler403 = "yici.web.views.error_403"
handler404 = "yici.web.views.error_404"
handler500 = "yici.web.views.error_500"
