"""One tag vocabulary (hub.vocabulary): every tag gets its Hugging Face id, and tags that are
spellings of one another ("Text Generation" and "text-generation", "English" and "en") are merged
into one, keeping every repository that held any of them."""

from django.db import migrations, models
from django.db.models import F

from hub.vocabulary import canonical


def merge_spellings(apps, schema_editor):
    Tag = apps.get_model("hub", "Tag")
    Repository = apps.get_model("hub", "Repository")
    ListGeneration = apps.get_model("hub", "ListGeneration")
    Through = Repository.tags.through
    groups = {}
    for tag in Tag.objects.order_by("id"):
        slug, name = canonical(tag.category, tag.name)
        groups.setdefault((tag.category, slug), []).append((tag, name))
    merged = False
    for (category, slug), members in groups.items():
        keeper, display = members[0]
        for other, _ in members[1:]:
            held = set(Through.objects.filter(tag_id=keeper.pk).values_list("repository_id", flat=True))
            moved = Through.objects.filter(tag_id=other.pk).exclude(repository_id__in=held)
            Through.objects.bulk_create(
                [Through(tag_id=keeper.pk, repository_id=pk) for pk in moved.values_list("repository_id", flat=True)]
            )
            other.delete()
            merged = True
        Tag.objects.filter(pk=keeper.pk).update(slug=slug, name=display)
    if merged and not ListGeneration.objects.filter(pk=1).update(value=F("value") + 1):
        ListGeneration.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("hub", "0004_list_indexes_and_generation")]

    operations = [
        migrations.AddField(model_name="tag", name="slug", field=models.CharField(default="", max_length=100),
                            preserve_default=False),
        migrations.RunPython(merge_spellings, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.UniqueConstraint(fields=("category", "slug"), name="hub_tag_unique_category_slug"),
        ),
    ]
