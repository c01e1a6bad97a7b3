"""Forms of the training pages: the arguments of the training services, with the page's own fields."""

from django import forms
from django.utils.translation import gettext as _

from core.errors import InvalidInput

from .models import CodeTaskType, Strategy
from .services import Resources


def parse_hyper_text(raw):
    """({name: value}, {name: line number}) of name=value lines (# starts a comment)."""
    values, lines = {}, {}
    for number, line in enumerate(raw.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise InvalidInput(_("hyper-parameters line %(number)s: write name=value") % {"number": number})
        name, value = (part.strip() for part in line.split("=", 1))
        values[name], lines[name] = value, number
    return values, lines


class FineTuneForm(forms.Form):
    name = forms.CharField(required=False, max_length=96)
    pretrain = forms.TypedChoiceField(choices=[("0", "0"), ("1", "1")], coerce=lambda v: v == "1", required=False)
    strategy = forms.ChoiceField(choices=Strategy.choices, required=False)
    base_version = forms.CharField(required=False, max_length=64)
    base_folder = forms.CharField(required=False, max_length=1024)
    base_model = forms.CharField(required=False, max_length=300)
    data_kind = forms.ChoiceField(choices=[("local", "local"), ("dataset", "dataset")], required=False)
    data_folder = forms.CharField(required=False, max_length=1024)
    dataset = forms.CharField(required=False, max_length=300)
    output_dir = forms.CharField(required=False, max_length=1024)
    hyper = forms.CharField(required=False, widget=forms.Textarea)

    def service_arguments(self):
        """The keyword arguments of services.create_finetune, and the line of each hyper-parameter."""
        data = dict(self.cleaned_data)
        data["hyper"], lines = parse_hyper_text(data["hyper"])
        if data.pop("data_kind") != "dataset":
            data["dataset"] = ""
        data["pretrain"] = bool(data["pretrain"])
        return data, lines


class CodeTaskForm(forms.Form):
    name = forms.CharField(required=False, max_length=96)
    type = forms.ChoiceField(choices=CodeTaskType.choices, required=False)
    command = forms.CharField(max_length=10_000)
    working_dir = forms.CharField(required=False, max_length=1024)
    image = forms.CharField(required=False, max_length=512)
    output_dir = forms.CharField(required=False, max_length=1024)
    cpu = forms.IntegerField(min_value=1, max_value=4096, required=False)
    memory = forms.FloatField(min_value=0.1, max_value=1_000_000, required=False)

    def service_arguments(self):
        data = dict(self.cleaned_data)
        data["type"] = data["type"] or CodeTaskType.PYTORCH
        data["resources"] = Resources(cpu=data.pop("cpu") or 1, memory_gb=data.pop("memory") or 2.0)
        return data
