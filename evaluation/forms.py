"""The evaluation page's form: its fields are create_evaluation's arguments."""

from django import forms
from django.utils.translation import gettext_lazy as _

from . import metrics as builtin
from .models import Kind


def _text(label, max_length=1024):
    return forms.CharField(label=label, max_length=max_length, required=False)


class EvaluationForm(forms.Form):
    name = _text(_("Name"), 128)
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.BUILTIN)
    output_dir = _text(_("Results to (private files)"))
    model_from = forms.ChoiceField(label=_("Model from"), choices=[("files", _("my files")),
                                                                   ("registry", _("a registry version"))])
    model_dir = _text(_("Model folder"))
    version = _text(_("Version id"), 64)
    base_model_dir = _text(_("Base model folder (LoRA adapters only)"))
    data_from = forms.ChoiceField(label=_("Data from"), choices=[("files", _("my files (test/)")),
                                                                 ("hub", _("a hub dataset"))])
    data_dir = _text(_("Data folder"))
    dataset = _text(_("Hub dataset (owner/name)"), 300)
    metrics = forms.MultipleChoiceField(label=_("Built-in metrics"), required=False,
                                        choices=[(name, name) for name in builtin.METRICS])
    max_samples = forms.IntegerField(label=_("Max records"), required=False)
    max_new_tokens = forms.IntegerField(label=_("Max new tokens"), required=False)
    work_dir = _text(_("Work folder (private files)"))
    image = _text(_("Image"), 512)
    command = _text(_("Command"), 10_000)
    description = _text(_("Description"), 2000)

    def arguments(self):
        """create_evaluation's keyword arguments: the model and data chosen, built-in or script fields."""
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        kind, model_from, data_from = data.pop("kind"), data.pop("model_from"), data.pop("data_from")
        data.pop("version" if model_from == "files" else "model_dir", None)
        data.pop("dataset" if data_from == "files" else "data_dir", None)
        for field in (("command", "work_dir") if kind == Kind.BUILTIN else ("metrics", "max_samples", "max_new_tokens")):
            data.pop(field, None)
        return {"output_dir": "", **data}
