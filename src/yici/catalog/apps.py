from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "yici.catalog"
    label = "catalog"
