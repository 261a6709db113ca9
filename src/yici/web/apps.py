from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "yici.web"
    label = "web"
