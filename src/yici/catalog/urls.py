from django.urls import path

from yici.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.element_list, name="element_list"),
    path("<str:code>/", views.element_detail, name="element_detail"),
]
