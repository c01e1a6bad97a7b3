"""Model cards as safe HTML: Markdown with raw HTML shown as text and only safe link schemes."""

from urllib.parse import urlparse

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

SAFE_SCHEMES = {"", "http", "https", "mailto"}


class _SafeLinks(Treeprocessor):
    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and urlparse(value.strip()).scheme.lower() not in SAFE_SCHEMES:
                    del element.attrib[attribute]
            if element.tag == "a" and element.get("href"):
                element.set("rel", "nofollow noopener")


class SafeMarkdown(Extension):
    def extendMarkdown(self, md):
        # Raw HTML blocks and inline tags become escaped text.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)


def render_markdown(text):
    return markdown.markdown(text, extensions=["fenced_code", "tables", SafeMarkdown()])
