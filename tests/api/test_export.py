"""CSV export of the board: one row per surgery, local times, safe against formula injection."""

from __future__ import annotations

import csv
import io

import pytest

from api.exports import cell
from tests.factories import in_days

pytestmark = pytest.mark.django_db


def rows(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_board_csv(api, book, nurse, surgeon, django_assert_max_num_queries):
    from actions.booking import surgery_update

    first = book(start_at=in_days(3, hour=7), first_name='=HYPERLINK("http://evil")', last_name="@SUM(A1)")
    surgery_update(surgery=first, by=nurse, surgeon=surgeon, level="-L4-L5+cmd", reason="details")
    book(start_at=in_days(4, hour=9), first_name="Ana", last_name="Núñez", mrn="+123")
    book(start_at=in_days(40))  # outside the range
    with django_assert_max_num_queries(6):
        r = api.get(f"/api/v1/exports/board.csv?from={in_days(3).date()}&to={in_days(5).date()}")
    assert r.status_code == 200
    assert r["Content-Disposition"].startswith('attachment; filename="board-')
    table = rows(r)
    assert len(table) == 2
    one, two = table
    assert one["Local time"] == "07:00" and one["Time zone"] in ("PST", "PDT")
    assert one["Date"] == in_days(3).date().isoformat()
    assert one["Patient"] == '\'=HYPERLINK("http://evil") @SUM(A1)'
    assert one["Level"] == "'-L4-L5+cmd"
    assert one["Surgeon"] == "Sam Surgeon"
    assert one["Readiness"] in ("On track", "At risk", "Not ready", "Ready")
    assert int(one["Required"]) > 0 and int(one["Done"]) == 0 and one["Overdue"].isdigit()
    assert two["Patient"] == "Ana Núñez" and two["MRN"] == "'+123"
    for row in table:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@"))


def test_board_csv_auth_and_errors(client, nurse, outsider_nurse, book):
    book(start_at=in_days(3))
    url = f"/api/v1/exports/board.csv?from={in_days(0).date()}&to={in_days(7).date()}"
    assert client.get(url).status_code == 401
    client.force_login(outsider_nurse)
    assert rows(client.get(url)) == []  # another clinic's nurse sees only her own (empty) board
    client.force_login(nurse)
    assert len(rows(client.get(url))) == 1
    r = client.get("/api/v1/exports/board.csv?from=2026-02-30", HTTP_ACCEPT="text/csv")
    assert r.status_code == 400 and "from" in r.json()
    r = client.get("/api/v1/exports/board.csv?from=2026-01-01&to=2028-01-01")
    assert r.status_code == 400 and "to" in r.json()


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("ok", "ok"),
        (None, ""),
        (3, "3"),
    ],
)
def test_cell(raw, safe):
    assert cell(raw) == safe
