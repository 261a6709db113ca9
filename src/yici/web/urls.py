from django.urls import path

from yici.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico on their own; point them at the static icon.
    path("favicon.ico", views.favicon),
]
