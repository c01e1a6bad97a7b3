from django.apps import AppConfig


class SgtConfig(AppConfig):
    name = "sgt"
