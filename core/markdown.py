"""Markdown as safe HTML (model cards, file previews): rendered, then cleaned by an allowlist sanitiser.

Two layers. Rendering: raw HTML in the Markdown is shown as text (the html block and
inline processors are off), tables align with the `align` attribute, not inline styles.
Sanitising: the rendered HTML goes through nh3 (the Rust ammonia sanitiser), which parses
it like a browser (html5ever) and keeps only the tags and attributes listed below. URL
attributes are checked after entity decoding, so `javascript&#58;`, `&colon;`, mixed
case, tabs inside the scheme, `data:` and `vbscript:` all lose their href/src; only
http, https, mailto and relative URLs stay. Links get rel="nofollow noopener noreferrer".
"""

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.tables import TableExtension

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "ol": {"start"},
}
ALIGN = {"left", "center", "right"}
ALIGNED = {"th": {"align": ALIGN}, "td": {"align": ALIGN}}
URL_SCHEMES = {"http", "https", "mailto"}


def _keep_attribute(tag, attribute, value):
    # Fenced code blocks mark their language as class="language-python": nothing else.
    if attribute == "class":
        return value if value.startswith("language-") and value[9:].replace("-", "").isalnum() else None
    return value


def make_cleaner(*, tags, attributes, attribute_filter):
    """An nh3 cleaner with this module's rules (no script or style content, safe URL schemes,
    aligned table cells, links rel=nofollow, no comments) and the caller's tags and attributes."""
    return nh3.Cleaner(
        tags=tags,
        clean_content_tags={"script", "style"},
        attributes=attributes,
        attribute_filter=attribute_filter,
        tag_attribute_values=ALIGNED,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


_CLEANER = make_cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, attribute_filter=_keep_attribute)


class _EscapeRawHtml(Extension):
    def extendMarkdown(self, md):
        # Raw HTML blocks and inline tags become escaped text (shown, never interpreted).
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def sanitize_html(html):
    """`html` reduced to the model-card allowlist (tags, attributes, URL schemes)."""
    return _CLEANER.clean(html)


def render_markdown(text):
    html = markdown.markdown(
        text, extensions=["fenced_code", TableExtension(use_align_attribute=True), _EscapeRawHtml()]
    )
    return sanitize_html(html)
