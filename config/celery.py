"""The Celery application, wired as Celery's Django guide shows."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("preop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _ensure_broker_folders(sender: Celery, **kwargs: object) -> None:
    # The embedded filesystem transport needs its folders before the first message.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(sender: object = None, **kwargs: object) -> None:
    """What Django does around each request: drop connections that broke or outlived CONN_MAX_AGE.

    Celery's own fix-up would close them all around every task (see CELERY_DB_REUSE_MAX). Eager
    tasks run inside the caller's transaction, whose connection must stay open.
    """
    from django.db import close_old_connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return

    close_old_connections()
