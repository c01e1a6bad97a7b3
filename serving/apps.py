from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = "Model serving"

    def ready(self):
        from . import supervisor  # noqa: F401  (connects the Celery worker signals)
