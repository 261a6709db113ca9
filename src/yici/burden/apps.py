from django.apps import AppConfig


class BurdenConfig(AppConfig):
    name = "yici.burden"
    label = "burden"
