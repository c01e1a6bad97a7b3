"""The serving pages' forms: what a page may send, checked before the services see it (the services
check again, and their refusals are shown on the same form)."""

import re

from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from . import conf
from .models import Metric, Sharing
from .services import VersionSpec

UID_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


class ScalingForm(forms.Form):
    """Traffic weight, replica bounds and autoscaling of one version."""

    rate = forms.IntegerField(label=_("Traffic weight"), min_value=0, max_value=100, initial=100,
                              help_text=_("0 to 100; each request goes to a running version in proportion to "
                                          "its weight."))
    min_replicas = forms.IntegerField(label=_("Minimum replicas"), min_value=1, initial=1)
    max_replicas = forms.IntegerField(label=_("Maximum replicas"), min_value=1, initial=1)
    metric = forms.TypedChoiceField(label=_("Scale on"), choices=Metric.choices, coerce=int, initial=Metric.RPS)
    threshold = forms.FloatField(label=_("Per-replica threshold"), min_value=0.001, max_value=1_000_000,
                                 initial=100,
                                 help_text=_("A replica is added when the load per replica goes above this."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("min_replicas", "max_replicas"):
            field = self.fields[name]
            field.max_value = conf.MAX_REPLICAS
            field.validators.append(MaxValueValidator(conf.MAX_REPLICAS))
            field.widget.attrs.update({"min": 1, "max": conf.MAX_REPLICAS})

    def clean(self):
        data = super().clean()
        low, high = data.get("min_replicas"), data.get("max_replicas")
        if low is not None and high is not None and high < low:
            self.add_error("max_replicas", _("At least the minimum (%(low)d).") % {"low": low})
        return data


class VersionForm(ScalingForm):
    """A registry version to deploy (as a new service, or as a canary of one)."""

    version = forms.CharField(
        label=_("Registry version"), max_length=300,
        widget=forms.TextInput(attrs={"list": "registry-versions", "autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Type to search your imported registry versions: application version (id)."),
    )
    field_order = ["version", "rate", "min_replicas", "max_replicas", "metric", "threshold"]

    def spec(self):
        """The version to deploy, for services.deploy_registry_version."""
        data = self.cleaned_data
        return VersionSpec(registry_version=data["version"], rate=data["rate"], min_replicas=data["min_replicas"],
                           max_replicas=data["max_replicas"], metric=data["metric"], threshold=data["threshold"])

    def clean_version(self):
        # The picker's option text is "application version (id)"; a pasted id alone is fine too.
        found = UID_RE.findall(self.cleaned_data["version"].lower())
        if len(found) != 1:
            raise forms.ValidationError(_("Pick a version from the list (its 32-character id)."))
        return found[0]


class NewServiceForm(VersionForm):
    name = forms.RegexField(
        label=_("Service name"), max_length=64, regex=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        error_messages={"invalid": _("Letters, digits, '-', '_' and '.' only, starting with a letter or digit.")},
        help_text=_("What clients pass as model."),
    )
    sharing = forms.ChoiceField(label=_("Shared with"), choices=Sharing.choices, initial=Sharing.PRIVATE)
    field_order = ["name", "version", "rate", "min_replicas", "max_replicas", "metric", "threshold", "sharing"]
