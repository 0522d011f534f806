"""On PostgreSQL the database itself refuses UPDATE and DELETE on the access log."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION audit_accesslog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_accesslog is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_accesslog_append_only
    BEFORE UPDATE OR DELETE ON audit_accesslog
    FOR EACH ROW EXECUTE FUNCTION audit_accesslog_append_only();
"""
REVERSE = """
DROP TRIGGER IF EXISTS audit_accesslog_append_only ON audit_accesslog;
DROP FUNCTION IF EXISTS audit_accesslog_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
