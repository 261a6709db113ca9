"""`yici createuser`: add a user with one role in one area."""

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from yici.accounts.models import Area, Department
from yici.accounts.roles import Role
from yici.accounts.services import user_create


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = "Create a Yici user. Every user has one role and belongs to one area (by its area code)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values, help="the user's role")
        parser.add_argument("--area", required=True, help="area code, e.g. 330726101201")
        parser.add_argument("--name", default="", help="display name, e.g. 王小明")
        parser.add_argument("--department", default="", help="department code (required for department_staff)")
        parser.add_argument("--phone", default="")
        parser.add_argument(
            "--password-stdin", action="store_true",
            help="read the password from standard input instead of prompting",
        )
        parser.add_argument("--no-password", action="store_true", help="create without a usable password")

    def handle(self, *args, **options):
        area = Area.objects.filter(code=options["area"]).first()
        if area is None:
            raise CommandError(f"no area with code {options['area']!r}; load areas with `yici import-areas` first")
        department = None
        if options["department"]:
            department = Department.objects.filter(code=options["department"]).first()
            if department is None:
                codes = ", ".join(Department.objects.values_list("code", flat=True)) or "none loaded"
                raise CommandError(f"no department {options['department']!r} (known: {codes})")
        password = None
        if not options["no_password"]:
            if options["password_stdin"]:
                password = self.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass("Password: ")
                if password != getpass.getpass("Password (again): "):
                    raise CommandError("the passwords do not match")
            if not password:
                raise CommandError("the password is empty (use --no-password for an account without one)")
        try:
            user = user_create(
                username=options["username"], password=password, role=options["role"], area=area,
                display_name=options["name"], department=department, phone=options["phone"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"created {user.username} ({user.get_role_display()}, {area.name})")

    def execute(self, *args, **options):
        import sys

        self.stdin = options.pop("stdin", sys.stdin)
        return super().execute(*args, **options)
