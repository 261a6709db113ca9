from django.urls import path

from yici.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.element_list, name="element_list"),
]
