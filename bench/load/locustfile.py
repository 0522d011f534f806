"""50 nurses on the workspace: open the board, open patients, tick items, as the pages do.

Run by ``python -m bench`` against gunicorn on 127.0.0.1 (headless, fixed run time). Each user
signs in with a seeded nurse account (``BENCH_NURSES``: comma-separated emails, password
``BENCH_PASSWORD``), then loops: board -> a patient's checklist -> tick an open item by POSTing
its completion form with the CSRF token and the item's version, as htmx does (``HX-Request``).
A conflict (another nurse ticked it first) is a normal answer, not an error.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re

from locust import HttpUser, between, task

NURSES = [e for e in os.environ.get("BENCH_NURSES", "").split(",") if e]
PASSWORD = os.environ.get("BENCH_PASSWORD", "")
SURGERY_LINK = re.compile(r'href="(/surgeries/[0-9a-f-]{36}/)"')
COMPLETE_FORM = re.compile(r'<form[^>]*action="(/items/[0-9a-f-]{36}/complete/)"(.*?)</form>', re.S)
VERSION = re.compile(r'name="version" value="(\d+)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
OPTION = re.compile(r'<option value="([^"]+)"')


def result_for(form_html: str) -> dict[str, str]:
    """A valid result for the item's result field, read from the form."""
    if 'name="result"' not in form_html:
        return {}
    select = re.search(r'<select name="result".*?</select>', form_html, re.S)
    if select:
        options = OPTION.findall(select.group(0))
        return {"result": options[0]} if options else {}
    if re.search(r'type="date"[^>]*name="result"|name="result"[^>]*type="date"', form_html):
        return {"result": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()}
    if 'inputmode="decimal"' in form_html:
        return {"result": "1.1" if "INR" in form_html else "13.5"}
    return {"result": "Normal"}


class Nurse(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.index = getattr(Nurse, "_count", 0)
        Nurse._count = self.index + 1
        email = NURSES[self.index % len(NURSES)]
        page = self.client.get("/accounts/login/", name="login page")
        token = CSRF_INPUT.search(page.text)
        self.client.post(
            "/accounts/login/",
            data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1) if token else ""},
            headers={"Referer": self.host + "/accounts/login/"},
            name="login",
        )
        self.surgeries: list[str] = []

    @task(3)
    def board(self) -> None:
        with self.client.get("/", name="board", catch_response=True) as response:
            links = SURGERY_LINK.findall(response.text)
            if response.status_code == 200 and not links:
                response.failure("the board lists no surgery (not signed in?)")
            self.surgeries = links or self.surgeries

    @task(5)
    def open_and_tick(self) -> None:
        if not self.surgeries:
            self.board()
            if not self.surgeries:
                return
        url = random.choice(self.surgeries)
        page = self.client.get(url, name="patient page")
        forms = COMPLETE_FORM.findall(page.text)
        csrf = CSRF_INPUT.search(page.text)
        if not forms or not csrf:
            return
        action, body = random.choice(forms)
        version = VERSION.search(body)
        data = {"csrfmiddlewaretoken": csrf.group(1), "version": version.group(1) if version else "1"}
        data.update(result_for(body))
        with self.client.post(
            action,
            data=data,
            headers={"HX-Request": "true", "Referer": self.host + url},
            name="tick item",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"tick answered {response.status_code}")
