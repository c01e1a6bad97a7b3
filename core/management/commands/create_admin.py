"""`manage.py create_admin`: the production way to make the first administrator, with no demo data.

    manage.py create_admin --username admin --email admin@lab.example --password-file /root/admin.pw
    CRUCIBLE_ADMIN_USERNAME=admin CRUCIBLE_ADMIN_PASSWORD=... manage.py create_admin --no-input

The password comes from --password-file (first line), else CRUCIBLE_ADMIN_PASSWORD, else a prompt
(twice) on a terminal. It is never printed. Idempotent: an existing account is made an active
superuser (role admin) and keeps its password unless --reset-password is given. Works whatever
REGISTRATION says (this is not self-service registration).
"""

import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role
from accounts.services import register_user, validate_new_password
from core.errors import DomainError

User = get_user_model()


class Command(BaseCommand):
    help = "Create (or promote) the administrator account, without any demo data."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("CRUCIBLE_ADMIN_USERNAME", ""))
        parser.add_argument("--email", default=os.environ.get("CRUCIBLE_ADMIN_EMAIL", ""))
        parser.add_argument("--password-file", help="a file whose first line is the password (mode 600)")
        parser.add_argument("--reset-password", action="store_true", help="set the password of an existing account")
        parser.add_argument("--no-input", action="store_true", help="never prompt; fail when something is missing")

    def handle(self, *args, username, email, password_file, reset_password, no_input, **options):
        interactive = not no_input and sys.stdin.isatty()
        if not username:
            if not interactive:
                raise CommandError("give --username (or CRUCIBLE_ADMIN_USERNAME)")
            username = input("Username: ").strip()
        existing = User.objects.filter(username=username).first()
        password = None
        if existing is None or reset_password:
            password = self._password(password_file, interactive)
            try:
                validate_new_password(password, username)
            except DomainError as exc:
                raise CommandError(exc.message) from exc

        with transaction.atomic():
            if existing is None:
                try:
                    user = register_user(username=username, password=password, role=Role.ADMIN, self_service=False)
                except DomainError as exc:
                    raise CommandError(exc.message) from exc
                action = "created"
            else:
                user = existing
                if password is not None:
                    user.set_password(password)
                action = "updated" if password is not None else "exists; made sure it is an active administrator"
            user.role = Role.ADMIN
            user.is_staff = user.is_superuser = user.is_active = True
            if email:
                user.email = email
            user.save()
        self.stdout.write(f"admin {user.username}: {action}")

    def _password(self, password_file, interactive):
        if password_file:
            try:
                with open(password_file, encoding="utf-8") as handle:
                    password = handle.readline().rstrip("\r\n")
            except OSError as exc:
                raise CommandError(f"cannot read --password-file: {exc}") from exc
            if not password:
                raise CommandError(f"{password_file} is empty")
            return password
        if os.environ.get("CRUCIBLE_ADMIN_PASSWORD"):
            return os.environ["CRUCIBLE_ADMIN_PASSWORD"]
        if not interactive:
            raise CommandError("give --password-file or CRUCIBLE_ADMIN_PASSWORD (no terminal to prompt on)")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("the two passwords differ")
        return first
