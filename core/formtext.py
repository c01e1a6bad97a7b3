"""Services speak of a request's fields by the spec's names (`modelVersionId`, `inputDir`); a page
shows the same message in its own words: each spec field name replaced by the form's label."""

import re


def in_form_words(message, labels):
    """`message` with every field name of `labels` ({spec name: form label}) replaced by its label."""
    for field, label in labels.items():
        message = re.sub(rf"\b{re.escape(field)}\b", str(label), message)
    return message
