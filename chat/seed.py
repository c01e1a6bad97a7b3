"""Seeds the public prompt library (idempotent: existing titles are left as they are)."""

from .models import PromptExample
from .prompt_library import PROMPTS


def run(stdout):
    created = 0
    for title, text, language in PROMPTS:
        _, was_created = PromptExample.objects.get_or_create(
            owner=None, title=title, defaults={"text": text, "language": language, "is_public": True}
        )
        created += was_created
    stdout.write(f"Chat prompt library: {created} prompts added, {len(PROMPTS)} in the seed.")
