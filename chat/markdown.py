"""Assistant answers as safe HTML: Markdown with fenced code blocks highlighted by Pygments,
then cleaned by the same kind of allowlist as the hub's model cards (core.markdown).

Raw HTML in an answer is shown as text (never interpreted); whatever the renderer produces
goes through nh3, which keeps only the tags and attributes below: `class` only on the code
block's wrapper ("highlight"), its `<code>` ("language-…") and Pygments' token spans (short
class names such as "k" or "s2"); links only with http, https or mailto URLs (a
`javascript:` link loses its href), with rel="nofollow noopener noreferrer".
"""

import re

import markdown
from markdown.extensions.codehilite import CodeHiliteExtension
from markdown.extensions.tables import TableExtension
from pygments.formatters import HtmlFormatter

from core.markdown import ALLOWED_TAGS, _EscapeRawHtml, make_cleaner

TAGS = ALLOWED_TAGS - {"img"} | {"div", "span"}
ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "ol": {"start"},
}
TOKEN_CLASS = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,3}\Z")  # Pygments' short token classes
LANGUAGE_CLASS = re.compile(r"^language-[A-Za-z0-9+#_-]{1,40}\Z")


def _keep_attribute(tag, attribute, value):
    if attribute != "class":
        return value
    if tag == "div":
        return value if value == "highlight" else None
    if tag == "code":
        return value if LANGUAGE_CLASS.match(value) else None
    if tag == "span":
        kept = [name for name in value.split() if TOKEN_CLASS.match(name)]
        return " ".join(kept) or None
    return None


_CLEANER = make_cleaner(tags=TAGS, attributes=ATTRIBUTES, attribute_filter=_keep_attribute)

# The colours of highlighted code (Pygments' default style), put in the chat page's <style>.
HIGHLIGHT_CSS = HtmlFormatter(style="default").get_style_defs(".msg .highlight")


def render_answer(text):
    """An assistant answer (Markdown) as sanitised HTML."""
    html = markdown.markdown(
        text,
        extensions=[
            "fenced_code",
            CodeHiliteExtension(css_class="highlight", guess_lang=False, use_pygments=True),
            TableExtension(use_align_attribute=True),
            "sane_lists",
            "nl2br",
            _EscapeRawHtml(),
        ],
    )
    return _CLEANER.clean(html)
