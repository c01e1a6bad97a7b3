"""On PostgreSQL, a trigram index for the name search of /modelList (full_name icontains).

Django compiles icontains to UPPER(full_name::text) LIKE UPPER(%s), so the index is on that
expression. Where pg_trgm cannot be created (no privilege), the search still works, unindexed.
"""

from django.db import migrations, transaction


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS hub_repo_full_name_trgm ON hub_repository "
        "USING gin ((UPPER(full_name::text)) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS hub_repo_full_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]
    operations = [migrations.RunPython(create_index, drop_index)]
