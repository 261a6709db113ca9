from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "yici.registry"
    label = "registry"
