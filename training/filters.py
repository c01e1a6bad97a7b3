"""List filters of training tasks (django-filter), for the clean API and the facades alike."""

import django_filters

from core.selectors import STATUS_ALIASES, STATUS_FILTER_CHOICES

from .models import CodeTask, LlmTask


class TaskFilter(django_filters.FilterSet):
    """status (an alias such as "pending" or "success" is accepted), name (substring)."""

    status = django_filters.ChoiceFilter(choices=STATUS_FILTER_CHOICES, method="by_status")
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=128)

    def by_status(self, qs, name, value):
        return qs.filter(status=STATUS_ALIASES[value])


class LlmTaskFilter(TaskFilter):
    pretrain = django_filters.BooleanFilter(field_name="is_pretrain")

    class Meta:
        model = LlmTask
        fields = ["status", "name", "pretrain"]


class CodeTaskFilter(TaskFilter):
    class Meta:
        model = CodeTask
        fields = ["status", "name", "type"]
