"""Production mode, proven end to end: the README's production steps with production settings.

``collectstatic`` with ``DEBUG=0``, then gunicorn (with ``config/gunicorn.conf.py``), a Celery worker
and beat on PostgreSQL and Redis, behind ``SECURE_PROXY_SSL_HEADER`` (the test plays the TLS proxy
and sends ``X-Forwarded-Proto: https``). Over HTTP: ``/healthz`` answers 200 once the worker's
heartbeat is in; a nurse signs in; a system books through the API; the nurse ticks an item on the
page; the security headers are there; a plain-HTTP request is sent to HTTPS.

Marked postgres + redis + slow: skipped on SQLite-only runs, and required in CI's PostgreSQL pass
(``REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from devtools.processes import database_url_for_subprocess, free_port, stop_process, wait_for
from tests import services
from tests.services import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Production-walk-password-42"


def _production_env(var_dir: Path) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(var_dir),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",  # the production settings, not the test ones
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_PROXY_SSL_HEADER": "1",
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": services.test_redis_url(),
        "VAR_DIR": str(var_dir),
        "PUBLIC_BASE_URL": "https://127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "w")  # noqa: SIM115 - closed with the process by the caller's stack
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


class Browser:
    """A client behind the TLS proxy: every request says it came over HTTPS; cookies kept by hand
    because they are Secure and the test talks plain HTTP to gunicorn."""

    def __init__(self, base: str) -> None:
        self.base, self.cookies = base, {}
        self.origin = base.replace("http://", "https://")

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", "Origin": self.origin, "Referer": self.origin + path}
        headers.update(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=30, **kwargs
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def csrf(self) -> str:
        return self.cookies["csrftoken"]


def test_production_stack_serves_books_ticks_and_reports_health(tmp_path, catalogue, clinic, nurse):
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from api.services import api_token_create
    from prep.models import ChecklistItem

    # The production settings hash with Argon2; the test settings would have stored an MD5 hash.
    nurse.password = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    nurse.save(update_fields=["password"])
    _token, token = api_token_create(clinic=clinic, name="Scheduling", by=None)
    import redis

    redis.Redis.from_url(services.test_redis_url()).flushdb()

    env = _production_env(tmp_path)
    python = sys.executable
    # README step: collect the static files with DEBUG=0 (failed before on a vendored source map).
    built = subprocess.run(
        [python, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()

    port = free_port()
    bin_dir = Path(python).parent
    gunicorn = shutil.which("gunicorn", path=str(bin_dir)) or "gunicorn"
    celery = shutil.which("celery", path=str(bin_dir)) or "celery"
    with ExitStack() as stack:
        processes = {
            "web": [
                gunicorn,
                "-c",
                "config/gunicorn.conf.py",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "60",
            ],
            "worker": [
                celery,
                "-A",
                "config",
                "worker",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            "beat": [
                celery,
                "-A",
                "config",
                "beat",
                "--schedule",
                str(tmp_path / "beat-schedule"),
                "--loglevel",
                "WARNING",
            ],
        }
        for name, args in processes.items():
            proc = _start(args, env, tmp_path / f"{name}.log")
            stack.callback(stop_process, proc)

        base = f"http://127.0.0.1:{port}"
        browser = Browser(base)

        def healthy() -> bool:
            try:
                return browser.request("GET", "/healthz").status_code == 200
            except requests.ConnectionError:
                return False

        try:
            wait_for(healthy, timeout=120, interval=1, what="/healthz 200 (database, broker, worker heartbeat)")
        except AssertionError:
            logs = "\n".join(f"--- {n}\n" + (tmp_path / f"{n}.log").read_text()[-3000:] for n in processes)
            raise AssertionError(f"the stack did not become healthy:\n{logs}") from None
        health = browser.request("GET", "/healthz")
        assert health.json() and health.headers["Content-Type"].startswith("application/json")

        # Plain HTTP (no proxy header) is sent to HTTPS.
        plain = requests.get(base + "/accounts/login/", allow_redirects=False, timeout=30)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

        # Sign in as the nurse through the real form (CSRF, Argon2, axes, sessions on Redis/DB).
        login_page = browser.request("GET", "/accounts/login/")
        assert login_page.status_code == 200
        signed_in = browser.request(
            "POST",
            "/accounts/login/",
            data={"username": nurse.email, "password": PASSWORD, "csrfmiddlewaretoken": browser.csrf()},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        board = browser.request("GET", "/")
        assert board.status_code == 200 and "Upcoming surgeries" in board.text
        headers = board.headers
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert "default-src" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]
        assert "no-store" in headers["Cache-Control"]
        cookies = signed_in.headers.get("Set-Cookie", "")
        assert "Secure" in cookies and "HttpOnly" in cookies
        # The page's static files are WhiteNoise's hashed, compressed copies.
        asset = re.search(r'src="(/static/[^"]+\.[0-9a-f]{12}\.js)"', board.text)
        assert asset, "hashed static file names in the page"
        static = browser.request("GET", asset.group(1), headers={"Accept-Encoding": "gzip"})
        assert static.status_code == 200 and "max-age" in static.headers["Cache-Control"]

        # A system books through the API with its Bearer token.
        api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        patient = browser.request(
            "POST",
            "/api/v1/patients/",
            headers=api,
            json={"mrn": "PROD-1", "first_name": "Ana", "last_name": "Lopez", "birth_date": "1951-03-02"},
        )
        assert patient.status_code == 201, patient.text
        start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).replace(microsecond=0).isoformat()
        surgery = browser.request(
            "POST",
            "/api/v1/surgeries/",
            headers=api,
            json={"patient": patient.json()["id"], "procedure": "lumbar-facet-rf", "start_at": start},
        )
        assert surgery.status_code == 201, surgery.text

        # The nurse ticks an item on the page.
        item = ChecklistItem.objects.get(checklist__surgery__uuid=surgery.json()["id"], code="ecg")
        page = browser.request("GET", f"/surgeries/{surgery.json()['id']}/")
        assert page.status_code == 200 and "Lopez" in page.text and "no-store" in page.headers["Cache-Control"]
        ticked = browser.request(
            "POST",
            f"/items/{item.uuid}/complete/",
            data={"csrfmiddlewaretoken": browser.csrf(), "version": str(item.version), "result": "normal sinus rhythm"},
        )
        assert ticked.status_code == 302, ticked.text[:500]
        item.refresh_from_db()
        assert item.status == "done" and item.completed_by_id == nurse.pk

        # Nothing went wrong on the server side during the walk.
        web_log = (tmp_path / "web.log").read_text()
        assert "Traceback" not in web_log
