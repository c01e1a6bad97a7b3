"""Seeds the public prompt library (idempotent: existing titles are left as they are) and says
which model a new user chats with: a served chat model shared with everyone (serving.seed
shares the demo's tiny-gpt2), or the default backend."""

from serving.models import ModelService, ServiceKind, Sharing

from .models import ChatBackend, PromptExample
from .prompt_library import PROMPTS


def shared_chat_models():
    """The running or deploying chat services shared with everyone, as `owner/name`."""
    services = ModelService.objects.filter(sharing=Sharing.EVERYONE, kind=ServiceKind.GENERATE, deleting=False)
    return [f"{s.owner.username}/{s.name}" for s in services.select_related("owner").order_by("name")]


def run(stdout):
    created = 0
    for title, text, language in PROMPTS:
        _, was_created = PromptExample.objects.get_or_create(
            owner=None, title=title, defaults={"text": text, "language": language, "is_public": True}
        )
        created += was_created
    stdout.write(f"Chat prompt library: {created} prompts added, {len(PROMPTS)} in the seed.")
    default = ChatBackend.objects.filter(is_active=True, is_default=True).first()
    shared = shared_chat_models()
    if default is not None:
        stdout.write(f"Chat: new users talk to the default backend {default.name}.")
    elif shared:
        stdout.write(f"Chat: new users talk to the shared model {shared[0]} (once its replica runs).")
    else:
        stdout.write("Chat: no shared chat model and no default backend; new users have no model to talk to.")
