from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "yici.api"
    label = "api"
