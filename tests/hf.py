"""Pointing the field's own Hugging Face clients (huggingface_hub, transformers) at a live
Crucible server, as a user would with HF_ENDPOINT (and HF_HUB_DISABLE_XET=1, docs/hub.md)."""

from huggingface_hub import constants as hf_constants


def point_hf_clients_at(url, monkeypatch, tmp_path):
    """The environment and the clients' already-read constants, for the test's duration; returns `url`."""
    import transformers.utils.hub as transformers_hub

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", url)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(transformers_hub, "_hf_api", None, raising=False)
    return url
