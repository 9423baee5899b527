"""A stored tsvector with a GIN index on registry_asset, on PostgreSQL only (see gallery/search.py)."""
from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from gallery.search import DOCUMENT_SQL

    schema_editor.execute("ALTER TABLE registry_asset ADD COLUMN IF NOT EXISTS search_document tsvector")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS registry_asset_search_gin ON registry_asset USING gin (search_document)")
    schema_editor.execute(f"UPDATE registry_asset SET search_document = {DOCUMENT_SQL}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS registry_asset_search_gin")
    schema_editor.execute("ALTER TABLE registry_asset DROP COLUMN IF EXISTS search_document")


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0002_star"),
        ("registry", "0003_assetversion_forked_from"),
        ("accounts", "0002_initial"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
