from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "yici.demo"
    label = "demo"
