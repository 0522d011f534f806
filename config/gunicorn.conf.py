"""Gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

The access log goes to stdout without portal sign-in tokens (core.logredact); the rest comes from
the command line or GUNICORN_CMD_ARGS (bind, workers).
"""

from core.logredact import RedactingGunicornLogger

accesslog = "-"
logger_class = RedactingGunicornLogger
