"""The registry's page forms: a new version from a hub model or a folder of one's files."""

from django import forms

SOURCES = [("hub", "A model in the hub"), ("files", "A folder of my files")]


class NewVersionForm(forms.Form):
    application = forms.CharField(max_length=96, label="Application name",
                                  help_text="An existing application gets a new version; a new name creates one.")
    source = forms.ChoiceField(choices=SOURCES, widget=forms.RadioSelect, initial="hub")
    hub_model = forms.CharField(max_length=200, required=False, label="Hub model",
                                widget=forms.TextInput(attrs={"list": "hub-models", "placeholder": "owner/name"}))
    folder = forms.CharField(max_length=1000, required=False, label="Folder",
                             widget=forms.TextInput(attrs={"list": "file-folders", "placeholder": "/Model"}))
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("source") == "hub" and not data.get("hub_model"):
            self.add_error("hub_model", "choose a hub model")
        if data.get("source") == "files" and not data.get("folder"):
            self.add_error("folder", "choose a folder")
        return data
