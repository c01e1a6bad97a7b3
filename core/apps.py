from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform"

    def ready(self):
        from . import worker  # noqa: F401  (connects the Celery worker signals)
