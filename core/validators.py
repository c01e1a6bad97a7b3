"""Checks shared by every app on names users choose: files, paths, repositories, applications.

A name is shown to other people (listings, download dialogs, shells), so it must read as
what it is. Refused: control characters (NUL, newline, escape...), line and paragraph
separators, and the bidirectional formatting characters that reorder what is displayed
(`report\\u202Efdp.exe` shows as `reportexe.pdf`).
"""

import unicodedata

from core.errors import InvalidInput

# Unicode bidirectional formatting: embeddings and overrides (LRE RLE PDF LRO RLO),
# isolates (LRI RLI FSI PDI), the implicit marks (LRM RLM) and the Arabic letter mark.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + ["\u200e", "\u200f", "\u061c"]
)
# Cc: C0/C1 controls and DEL; Zl/Zp: U+2028 and U+2029, line breaks to JavaScript and editors.
REFUSED_CATEGORIES = frozenset(["Cc", "Zl", "Zp"])


def unsafe_character(value):
    """The first character of `value` a name must not contain, or None."""
    for char in value:
        if char in BIDI_CONTROLS or unicodedata.category(char) in REFUSED_CATEGORIES:
            return char
    return None


def validate_name_characters(value, field="name"):
    """`value` unchanged, or InvalidInput (400) if it holds a control or bidirectional character."""
    char = unsafe_character(value)
    if char is not None:
        raise InvalidInput(
            f"must not contain control or bidirectional formatting characters (found U+{ord(char):04X})", field=field
        )
    return value
