from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from . import system_key, throttling  # noqa: F401  (the system key check, the failed-login counter)
