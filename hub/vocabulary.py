"""One tag vocabulary: Hugging Face's ids with display names.

A tag has an id (`Tag.slug`: what a Hugging Face model card and the HF API use, `text-generation`,
`sentence-transformers`, `en`) and a display name (`Tag.name`: what /api/modelLabel, the filters
and the pages show, `Text Generation`, `Sentence Transformers`, `English`). Either spelling, in any
case and with spaces, hyphens or underscores, names the same tag: `canonical()` maps a value to
its (id, display name). Known ids are Hugging Face's pipeline tags, common libraries and ISO 639-1
language codes; a value outside them keeps its own spelling as display name and gets a lower-case,
hyphenated id, so "Carbon Emissions" and "carbon-emissions" are still one tag. Datasets are named
by their repository ids, which are kept as written.
"""

import re

TASKS = {
    "text-generation": "Text Generation",
    "text2text-generation": "Text2Text Generation",
    "text-classification": "Text Classification",
    "token-classification": "Token Classification",
    "question-answering": "Question Answering",
    "table-question-answering": "Table Question Answering",
    "zero-shot-classification": "Zero-Shot Classification",
    "translation": "Translation",
    "summarization": "Summarization",
    "feature-extraction": "Feature Extraction",
    "sentence-similarity": "Sentence Similarity",
    "fill-mask": "Fill-Mask",
    "conversational": "Conversational",
    "text-ranking": "Text Ranking",
    "text-to-image": "Text-to-Image",
    "image-to-text": "Image-to-Text",
    "image-to-image": "Image-to-Image",
    "text-to-video": "Text-to-Video",
    "image-classification": "Image Classification",
    "image-segmentation": "Image Segmentation",
    "object-detection": "Object Detection",
    "depth-estimation": "Depth Estimation",
    "zero-shot-image-classification": "Zero-Shot Image Classification",
    "visual-question-answering": "Visual Question Answering",
    "document-question-answering": "Document Question Answering",
    "image-text-to-text": "Image-Text-to-Text",
    "audio-classification": "Audio Classification",
    "automatic-speech-recognition": "Automatic Speech Recognition",
    "text-to-speech": "Text-to-Speech",
    "text-to-audio": "Text-to-Audio",
    "audio-to-audio": "Audio-to-Audio",
    "voice-activity-detection": "Voice Activity Detection",
    "tabular-classification": "Tabular Classification",
    "tabular-regression": "Tabular Regression",
    "time-series-forecasting": "Time Series Forecasting",
    "reinforcement-learning": "Reinforcement Learning",
    "robotics": "Robotics",
    "graph-ml": "Graph Machine Learning",
}

LIBRARIES = {
    "transformers": "Transformers",
    "peft": "PEFT",
    "pytorch": "PyTorch",
    "tensorflow": "TensorFlow",
    "jax": "JAX",
    "safetensors": "Safetensors",
    "sentence-transformers": "Sentence Transformers",
    "diffusers": "Diffusers",
    "timm": "Timm",
    "adapter-transformers": "Adapter Transformers",
    "open_clip": "OpenCLIP",
    "paddlepaddle": "PaddlePaddle",
    "espnet": "ESPnet",
    "tflite": "TF Lite",
    "span-marker": "SpanMarker",
    "nemo": "NeMo",
    "stanza": "Stanza",
    "rust": "Rust",
    "onnx": "ONNX",
    "gguf": "GGUF",
    "keras": "Keras",
    "sklearn": "Scikit-learn",
    "spacy": "spaCy",
    "fastai": "fastai",
    "flair": "Flair",
    "mlx": "MLX",
    "gpt2": "GPT-2",
}

LANGUAGES = {
    "en": "English",
    "zh": "Chinese",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "ar": "Arabic",
    "hi": "Hindi",
    "bn": "Bengali",
    "ta": "Tamil",
    "te": "Telugu",
    "ur": "Urdu",
    "fa": "Persian",
    "tr": "Turkish",
    "pl": "Polish",
    "uk": "Ukrainian",
    "cs": "Czech",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "et": "Estonian",
    "el": "Greek",
    "he": "Hebrew",
    "hu": "Hungarian",
    "ro": "Romanian",
    "vi": "Vietnamese",
    "th": "Thai",
    "id": "Indonesian",
    "ms": "Malay",
    "sw": "Swahili",
    "multilingual": "Multilingual",
}

KNOWN = {"task": TASKS, "library": LIBRARIES, "language": LANGUAGES}


def _key(value):
    """The spelling-free form of a tag: lower case, runs of spaces, '-', '_' as one '-'."""
    return re.sub(r"[\s_\-]+", "-", value.strip().lower()).strip("-")


_LOOKUP = {
    category: {**{_key(slug): (slug, name) for slug, name in known.items()},
               **{_key(name): (slug, name) for slug, name in known.items()}}
    for category, known in KNOWN.items()
}


def canonical(category, value):
    """(id, display name) of `value` in `category` (task, library, dataset, language, other)."""
    if category == "dataset":  # a dataset's repository id: kept as written
        return value.strip()[:100], value.strip()
    key = _key(value)
    known = _LOOKUP.get(category, {}).get(key)
    if known:
        return known
    return (key or value.strip().lower())[:100], value.strip()
