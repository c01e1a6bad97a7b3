"""The registry versions a task produced and merged become foreign keys (they were plain integers).

The columns keep their names (produced_version_id, merged_version_id) and their values; a number that
names no version any more (deleted since) becomes NULL first, so the foreign key holds.
"""

import django.db.models.deletion
from django.db import migrations, models


def forget_missing_versions(apps, schema_editor):
    LlmTask = apps.get_model("training", "LlmTask")
    Version = apps.get_model("registry", "AiApplicationVersion")
    existing = Version.objects.values("pk")
    for field in ("produced_version_id", "merged_version_id"):
        LlmTask.objects.filter(**{f"{field}__isnull": False}).exclude(**{f"{field}__in": existing}).update(**{field: None})


def version_key(related_name):
    return models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                             related_name=related_name, to="registry.aiapplicationversion")


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0001_initial"),
        ("training", "0003_metricrow_grad_norm"),
    ]

    operations = [
        migrations.RunPython(forget_missing_versions, migrations.RunPython.noop),
        migrations.RenameField("llmtask", "produced_version_id", "produced_version"),
        migrations.AlterField("llmtask", "produced_version", version_key("produced_by")),
        migrations.RenameField("llmtask", "merged_version_id", "merged_version"),
        migrations.AlterField("llmtask", "merged_version", version_key("merged_by")),
    ]
