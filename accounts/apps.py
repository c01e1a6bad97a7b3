from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from . import system_key, throttling  # noqa: F401  (the system key check, the failed-login counter)
        from .models import ApiKey, User
        from .services import forget_cached_keys_on_change

        # A key or user saved or deleted in this process is read again at its next use (api_key_for's cache).
        for model in (ApiKey, User):
            post_save.connect(forget_cached_keys_on_change, sender=model, dispatch_uid=f"forget-keys-{model.__name__}")
            post_delete.connect(forget_cached_keys_on_change, sender=model, dispatch_uid=f"forget-keys-{model.__name__}-d")
