"""On PostgreSQL the database refuses TRUNCATE of the access log too (the row trigger does not see it).

``flush`` (Django's test teardown between transactional tests) truncates every table; it may do so
only in a transaction that sets ``preop.audit_truncate`` to ``allow`` first, which only the test
suite's flush does. Anyone owning the table can still drop the trigger: this stops the application
and ordinary mistakes, not the database owner.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION audit_accesslog_no_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('preop.audit_truncate', true), '') = 'allow' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_accesslog is append-only: TRUNCATE refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_accesslog_no_truncate
    BEFORE TRUNCATE ON audit_accesslog
    FOR EACH STATEMENT EXECUTE FUNCTION audit_accesslog_no_truncate();
"""
REVERSE = """
DROP TRIGGER IF EXISTS audit_accesslog_no_truncate ON audit_accesslog;
DROP FUNCTION IF EXISTS audit_accesslog_no_truncate();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [migrations.RunPython(forwards, backwards)]
