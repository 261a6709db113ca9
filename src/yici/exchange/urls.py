from django.urls import path

from yici.exchange import views, views_systems

app_name = "exchange"
urlpatterns = [
    path("imports/", views.import_list, name="import_list"),
    path("imports/new/", views.import_new, name="import_new"),
    path("imports/preview/<str:token>/", views.import_preview, name="import_preview"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/status/", views.import_status, name="import_status"),
    path("systems/", views_systems.system_list, name="system_list"),
    path("systems/new/", views_systems.system_new, name="system_new"),
    path("systems/<slug:code>/", views_systems.system_detail, name="system_detail"),
    path("systems/<slug:code>/endpoint/", views_systems.system_endpoint, name="system_endpoint"),
    path("systems/<slug:code>/mappings/", views_systems.system_mapping, name="system_mapping"),
    path("systems/<slug:code>/mappings/delete/", views_systems.system_mapping_delete, name="system_mapping_delete"),
    path("systems/<slug:code>/subscriptions/", views_systems.system_subscription, name="system_subscription"),
    path("systems/<slug:code>/replay/", views_systems.system_replay, name="system_replay"),
    path("systems/<slug:code>/breaker/", views_systems.system_breaker_reset, name="system_breaker_reset"),
    path("systems/<slug:code>/deliveries/<int:pk>/replay/", views_systems.delivery_replay, name="delivery_replay"),
    path("systems/<slug:code>/sheets/template/", views_systems.system_sheet_template, name="system_sheet_template"),
    path("systems/<slug:code>/sheets/export/", views_systems.system_sheet_export, name="system_sheet_export"),
    path("systems/<slug:code>/sheets/<int:pk>/", views_systems.sheet_download, name="sheet_download"),
]
