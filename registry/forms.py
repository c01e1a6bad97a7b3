"""The registry's page forms: a new version from a hub model or a folder of one's files."""

from django import forms
from django.utils.translation import gettext_lazy as _

SOURCES = [("hub", _("A model in the hub")), ("files", _("A folder of my files"))]


class NewVersionForm(forms.Form):
    application = forms.CharField(max_length=96, label=_("Application name"),
                                  help_text=_("An existing application gets a new version; a new name creates one."))
    source = forms.ChoiceField(label=_("Source"), choices=SOURCES, widget=forms.RadioSelect, initial="hub")
    hub_model = forms.CharField(max_length=200, required=False, label=_("Hub model"),
                                widget=forms.TextInput(attrs={"list": "hub-models", "placeholder": "owner/name"}))
    folder = forms.CharField(max_length=1000, required=False, label=_("Folder"),
                             widget=forms.TextInput(attrs={"list": "file-folders", "placeholder": "/Model"}))
    description = forms.CharField(label=_("Description"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("source") == "hub" and not data.get("hub_model"):
            self.add_error("hub_model", _("choose a hub model"))
        if data.get("source") == "files" and not data.get("folder"):
            self.add_error("folder", _("choose a folder"))
        return data
