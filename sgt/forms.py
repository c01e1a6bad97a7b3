"""Forms of the SGT pages: the same services as the SGT API, with the page's own field names."""

import csv
import io
import json

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import InvalidInput
from core.parsers import parse_json

from .selectors import list_model_types


class CreateModelForm(forms.Form):
    app_name = forms.CharField(max_length=64, initial="lab", label=gettext_lazy("App name"),
                               help_text=gettext_lazy("Groups your models, e.g. a project."))
    name = forms.CharField(max_length=64, label=gettext_lazy("Name"),
                           help_text=gettext_lazy("Letters, digits, '_', '.' and '-'."))
    model_type = forms.ChoiceField(choices=[], label=gettext_lazy("Model type"))
    in_size = forms.IntegerField(min_value=1, initial=1, label=gettext_lazy("Inputs per row"))
    out_size = forms.IntegerField(min_value=1, initial=1, label=gettext_lazy("Outputs per row"))
    is_public = forms.BooleanField(required=False, label=gettext_lazy("Public (anyone may run and clone it)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_type"].choices = [(name, name) for name in list_model_types()]
        self.fields["in_size"].max_value = self.fields["out_size"].max_value = settings.SGT_MAX_SIZE


def rows_from_text(text):
    """Training rows from CSV (a header line is skipped) or a JSON 2-D array: a list of lists of numbers."""
    text = text.strip()
    if not text:
        raise InvalidInput(_("give some rows"))
    if text.startswith("["):
        return parse_json(text, what="the rows")
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text))):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            rows.append([float(cell) for cell in row])
        except ValueError:
            if number == 0:
                continue  # a header
            raise InvalidInput(_("line %(number)d holds something that is not a number") % {"number": number + 1}) from None
    return rows


class TrainingDataForm(forms.Form):
    file = forms.FileField(required=False, label=gettext_lazy("File"),
                           help_text=gettext_lazy("CSV (numbers, an optional header line) or JSON (a 2-D array)."))
    rows = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}), required=False,
                           label=gettext_lazy("Rows"),
                           help_text=gettext_lazy("Or paste rows here: each row holds the inputs, then the targets."))
    train = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Train now"))

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            if upload.size > settings.SGT_MAX_BODY_BYTES:
                raise forms.ValidationError(_("the file is larger than %(size)d MB")
                                            % {"size": settings.SGT_MAX_BODY_BYTES // 2**20})
            text = upload.read().decode("utf-8", errors="replace")
        else:
            text = data.get("rows") or ""
        try:
            data["train_data"] = rows_from_text(text)
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None
        return data


class CloneForm(forms.Form):
    new_name = forms.CharField(max_length=64, label=gettext_lazy("Name of your copy"))
