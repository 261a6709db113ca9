"""`yici rotate-secrets`: re-encrypt every stored connector secret with the newest key."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from yici.common.crypto import SecretUnreadable, new_key, rotate
from yici.exchange.models import LineSystemEndpoint


class Command(BaseCommand):
    help = ("Re-encrypt stored secrets with the first key of YICI_ENCRYPTION_KEYS (list the new key first and "
            "keep the old one after it until this has run). --new-key prints a fresh key to add.")

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="print a new key and change nothing")

    def handle(self, *args, **options):
        if options["new_key"]:
            self.stdout.write(new_key())
            return
        endpoints = list(LineSystemEndpoint.objects.exclude(secret_encrypted="").select_related("system"))
        rotated = []
        for endpoint in endpoints:  # check all before writing any
            try:
                rotated.append((endpoint, rotate(endpoint.secret_encrypted)))
            except SecretUnreadable as exc:
                raise CommandError(f"{endpoint.system.code}: {exc}; nothing was changed") from None
        with transaction.atomic():
            for endpoint, token in rotated:
                LineSystemEndpoint.objects.filter(pk=endpoint.pk).update(secret_encrypted=token)
        self.stdout.write(f"{len(rotated)} secrets re-encrypted with the newest key")
