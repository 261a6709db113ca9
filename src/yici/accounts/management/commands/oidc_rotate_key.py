"""`yici oidc-rotate-key`: a new ID-token signing key; the old one stays published until its tokens expire."""

from django.core.management.base import BaseCommand

from yici.accounts.oidc import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Make a new RS256 signing key for ID tokens and retire the current one. The retired key stays in the "
        "JWKS until every token it signed has expired, so relying parties never see an unverifiable token."
    )

    def handle(self, *args, **options):
        key, retired = signing_key_rotate()
        self.stdout.write(f"active key {key.kid}")
        for old in retired:
            self.stdout.write(f"retired key {old.kid}, published until {old.publish_until:%Y-%m-%d %H:%M:%S %Z}")
