from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from . import system_key  # noqa: F401  (registers the SGT system key check)
