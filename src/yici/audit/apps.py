from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "yici.audit"
    label = "audit"
