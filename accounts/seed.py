"""Demo accounts: an admin, a researcher and an operator, with their logins printed.

Passwords come from CRUCIBLE_ADMIN_PASSWORD, CRUCIBLE_RESEARCHER_PASSWORD and
CRUCIBLE_OPERATOR_PASSWORD. Without them a development instance uses the documented demo
passwords below, and production (DJANGO_ENV=production) generates random ones, printed once.
A password is only set when its account is created: one changed later is never reset.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model

from .models import Role, Team
from .services import register_user

User = get_user_model()

DEMO_TEAM = "Demo lab"

# username, role, environment variable, development password
DEMO_ACCOUNTS = [
    ("admin", Role.ADMIN, "CRUCIBLE_ADMIN_PASSWORD", "crucible-admin"),
    ("researcher", Role.RESEARCHER, "CRUCIBLE_RESEARCHER_PASSWORD", "crucible-researcher"),
    ("operator", Role.OPERATOR, "CRUCIBLE_OPERATOR_PASSWORD", "crucible-operator"),
]


def configured_password(env_var, dev_password):
    """The password an account gets when created; None means: generate one."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    return None if settings.PRODUCTION else dev_password


def ensure_account(username, role, password):
    """Create the account if missing; returns (user, created)."""
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    user = register_user(username=username, password=password, role=role, self_service=False)
    # The seed acts as the administrator who manages teams.
    user.team = Team.objects.get_or_create(name=DEMO_TEAM)[0]
    if role == Role.ADMIN:
        user.is_staff = True
        user.is_superuser = True
    user.save()
    return user, True


def run(stdout):
    stdout.write("Demo accounts:")
    for username, role, env_var, dev_password in DEMO_ACCOUNTS:
        password = configured_password(env_var, dev_password)
        if password is None:
            password = secrets.token_urlsafe(12)
        user, created = ensure_account(username, role, password)
        if created or user.check_password(password):
            shown = password
        else:
            shown = "<the password you set>"
        note = "created" if created else "exists"
        stdout.write(f"  login  {username} / {shown}   ({user.role}{', superuser' if user.is_superuser else ''}; {note})")
