from django.urls import path

from yici.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="report_list"),
    path("new/", views.report_new, name="report_new"),
    path("<int:pk>/", views.report_detail, name="report_detail"),
    path("<int:pk>/register/", views.report_register, name="report_register"),
    path("<int:pk>/send/", views.report_send, name="report_send"),
    path("collections/<int:pk>/", views.collection_detail, name="collection_detail"),
    path("collections/<int:pk>/remind/", views.collection_remind, name="collection_remind"),
    path("collections/<int:pk>/remind/<int:instance>/", views.instance_remind, name="instance_remind"),
    path("collections/<int:pk>/download/", views.collection_download, name="collection_download"),
    path("mine/", views.my_instances, name="my_instances"),
    path("mine/<int:pk>/", views.instance_detail, name="instance_detail"),
    path("mine/<int:pk>/download/", views.instance_download, name="instance_download"),
    path("mine/<int:pk>/upload/", views.instance_upload, name="instance_upload"),
]
