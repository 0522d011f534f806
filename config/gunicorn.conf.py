"""Gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi --bind ...`.

The access log goes to stdout without portal sign-in tokens (core.logredact). The worker class and
count below are the ones `make bench`'s load test (50 nurses, 2 cores) is measured with; the
command line or GUNICORN_CMD_ARGS override them (e.g. `--workers 8` on a bigger machine is not
needed: they follow the core count).
"""

import os

from core.logredact import RedactingGunicornLogger

accesslog = "-"
logger_class = RedactingGunicornLogger

# A page is mostly CPU (Python and template rendering: the board costs tens of milliseconds of CPU
# and a few of database), so more processes than cores only queue for the same cores: one process
# per core, plus one so that a core is not idle while a process waits on PostgreSQL. Threads cover
# the shorter waits (database round trips, a slow client) without another process's memory
# (~100 MB each); gunicorn's "2 x cores + 1" starting point is for sync workers, whose only way to
# overlap waits is more processes. Measured against sync workers in bench/results.md.
_cores = os.cpu_count() or 1
worker_class = "gthread"
workers = _cores + 1
threads = 4
# gthread keeps a connection open between requests (sync workers close each one). Gunicorn's default
# of 2 s closes it just as a client that paused 1-3 s sends its next request on it, which the client
# sees as "connection reset" (32 of 1,360 requests of the load test with the default): keep idle
# connections longer than a client's pause (a proxy in front keeps its own for browsers).
keepalive = 75
