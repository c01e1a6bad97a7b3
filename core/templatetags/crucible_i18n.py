"""Display helpers for translated pages: `{% load crucible_i18n %}`.

The specs answer some values in Chinese (an image's 成功, an evaluation's runTime "54分41秒",
the furnace's 实验已停止) and API answers keep them. Pages show them in the page's language
through these filters; the words themselves are in locale/ like every other string.
"""

import re

from django import template
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext, gettext_lazy, ngettext, pgettext_lazy

register = template.Library()

# Job statuses (core.models.JobStatus and the apps' own) and the other status words pages show.
STATUS_LABELS = {
    "queued": pgettext_lazy("status", "queued"),
    "pending": pgettext_lazy("status", "pending"),
    "running": pgettext_lazy("status", "running"),
    "succeeded": pgettext_lazy("status", "succeeded"),
    "failed": pgettext_lazy("status", "failed"),
    "cancelled": pgettext_lazy("status", "cancelled"),
    "cancelling": pgettext_lazy("status", "cancelling"),
    "stopping": pgettext_lazy("status", "stopping"),
    "stopped": pgettext_lazy("status", "stopped"),
    "idle": pgettext_lazy("status", "idle"),
    "untrained": pgettext_lazy("status", "untrained"),
    "training": pgettext_lazy("status", "training"),
    "trained": pgettext_lazy("status", "trained"),
    "ready": pgettext_lazy("status", "ready"),
    "error": pgettext_lazy("status", "error"),
    # Furnace run phases.
    "program": pgettext_lazy("phase", "program"),
    "shutdown": pgettext_lazy("phase", "shutdown"),
    "done": pgettext_lazy("phase", "done"),
}

# The furnace spec's Chinese messages (experiments.compat) -> page text.
SPEC_MESSAGES = {
    "参数已设定": gettext_lazy("Parameters set"),
    "实验已启动": gettext_lazy("Experiment started"),
    "实验已停止": gettext_lazy("Experiment stopped"),
    "查询成功": gettext_lazy("Query succeeded"),
    "成功": gettext_lazy("Succeeded"),
    "失败": gettext_lazy("Failed"),
}

_RUN_TIME = re.compile(r"^(?:(\d+)天)?(?:(\d+)小时)?(?:(\d+)分)?(\d+)秒\Z")


@register.filter
def status_label(value):
    """A status word in the page's language ("succeeded" -> "成功" in Chinese); others unchanged."""
    if value is None:
        return ""
    text = str(value)
    label = STATUS_LABELS.get(text.lower())
    if label is None:
        return value
    return capfirst(label) if text[:1].isupper() else label


def spec_messages():
    """{Chinese message: text in the page's language} for scripts that show a spec's answer."""
    return {key: str(label) for key, label in SPEC_MESSAGES.items()}


def status_labels():
    """{status: label} for scripts that update a status in place (json_script)."""
    return {key: str(label) for key, label in STATUS_LABELS.items()}


@register.simple_tag
def status_labels_map():
    return status_labels()


@register.filter
def spec_message(value):
    """A spec's Chinese message in the page's language; other text unchanged."""
    label = SPEC_MESSAGES.get(str(value)) if value is not None else None
    return label if label is not None else value


def format_duration(seconds):
    """Seconds as "2 h 3 min 4 s" in English, "2小时3分4秒" in Chinese (the page's language)."""
    seconds = int(round(float(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(ngettext("%(n)d day", "%(n)d days", days) % {"n": days})
    if days or hours:
        parts.append(gettext("%(n)d h") % {"n": hours})
    if days or hours or minutes:
        parts.append(gettext("%(n)d min") % {"n": minutes})
    parts.append(gettext("%(n)d s") % {"n": secs})
    # Chinese writes the units without spaces ("2小时3分4秒"), as the spec does.
    return ("" if (get_language() or "").startswith("zh") else " ").join(parts)


@register.filter
def duration(value):
    """`{{ seconds|duration }}`; empty for None or a value that is not a number."""
    if value in (None, ""):
        return ""
    try:
        return format_duration(value)
    except (TypeError, ValueError):
        return value


@register.filter
def run_time(value):
    """The evaluation spec's runTime ("54分41秒") in the page's language; other text unchanged."""
    match = _RUN_TIME.match(str(value or ""))
    if not match:
        return value
    days, hours, minutes, secs = (int(part or 0) for part in match.groups())
    return format_duration(((days * 24 + hours) * 60 + minutes) * 60 + secs)
