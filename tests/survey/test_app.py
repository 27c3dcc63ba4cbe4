"""`survey serve` through HTTP: submit, resume, duplicates, bad input, the database."""

import json
import re
import sqlite3

import pytest

pytest.importorskip("flask")

from cartoonlab.survey.app import COOKIE, create_app  # noqa: E402


def _start(client):
    r = client.post("/start")
    assert r.status_code == 303
    return client.get_cookie(COOKIE).value


def _page(client, path="/next"):
    """Follow redirects from `path`; (question id, option ids in page order) or None when done."""
    r = client.get(path, follow_redirects=True)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    m = re.search(r'name="question" value="([0-9a-f]{16})"', html)
    return (m.group(1), re.findall(r'name="choice" value="([0-9a-f]{16})"', html)) if m else None


def _rows(survey):
    with sqlite3.connect(survey / "answers.sqlite") as db:
        return db.execute("SELECT participant, question, choice FROM answers ORDER BY id").fetchall()


def test_a_participant_answers_every_question_once_and_the_rows_are_stored(survey):
    client = create_app(survey).test_client()
    assert "Start" in client.get("/").get_data(as_text=True)
    token = _start(client)
    seen = []
    while (page := _page(client)) is not None:
        qid, options = page
        assert len(options) == 3, "two cells and the real cartoon"
        assert client.post("/answer", data={"question": qid, "choice": options[0]}).status_code == 303
        seen.append((token, qid, options[0]))
    questions = {q["id"] for q in json.loads((survey / "survey.json").read_text())["questions"]}
    assert {q for _, q, _ in seen} == questions and len(seen) == 3
    assert _rows(survey) == seen, "one row per answer, as submitted"
    assert "Thank you" in client.get("/next", follow_redirects=True).get_data(as_text=True)


def test_resume_with_the_cookie_or_the_link_and_orders_differ_by_participant(survey):
    app = create_app(survey)
    a = app.test_client()
    token = _start(a)
    qid, options = _page(a)
    a.post("/answer", data={"question": qid, "choice": options[1]})
    second = _page(a)
    assert second[0] != qid
    b = app.test_client()  # another device: the resume link
    assert b.get(f"/p/{token}").status_code == 303
    assert _page(b) == second, "resumed at the same question, options in the same order"
    assert b.get("/p/not-a-real-token-at-all").status_code == 404
    orders = set()
    for _ in range(6):
        c = app.test_client()
        _start(c)
        orders.add(_page(c)[0])
    assert len(orders) > 1, "participants get the questions in orders of their own"


def test_bad_and_repeated_submissions_get_4xx_and_change_nothing(survey):
    client = create_app(survey).test_client()
    assert client.post("/answer", data={"question": "0" * 16, "choice": "0" * 16}).status_code == 403
    _start(client)
    qid, options = _page(client)
    other_q = next(
        q["id"] for q in json.loads((survey / "survey.json").read_text())["questions"] if q["id"] != qid
    )
    cases = [
        ({}, 400),
        ({"question": qid}, 400),
        ({"question": qid, "choice": "x' OR 1=1"}, 400),
        ({"question": "f" * 16, "choice": options[0]}, 404),
        ({"question": other_q, "choice": options[0]}, 400),
        ({"question": qid, "choice": options[0], "shown_at": "yesterday"}, 400),
        ({"question": qid, "choice": "a" * 20000}, 413),
    ]
    for form, code in cases:
        assert client.post("/answer", data=form).status_code == code, form
    assert client.get("/answer").status_code == 405
    assert _rows(survey) == []
    assert client.post("/answer", data={"question": qid, "choice": options[0]}).status_code == 303
    r = client.post("/answer", data={"question": qid, "choice": options[1]})
    assert r.status_code == 409 and "first answer is kept" in r.get_data(as_text=True)
    assert [c for _, _, c in _rows(survey)] == [options[0]]
    assert client.get("/q/" + "e" * 16).status_code == 404
    assert (
        client.get("/img/../key.json").status_code == 404 and client.get("/img/key.json").status_code == 404
    )


def test_answers_survive_the_server_being_killed(survey):
    """A real server (waitress in a subprocess), answers over HTTP, then SIGKILL."""
    import http.cookiejar
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request

    pytest.importorskip("waitress")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cartoonlab", "survey", "serve", str(survey), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # importing torch on a loaded machine takes a while
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        html = opener.open(base + "/start", data=b"").read().decode()
        for _ in range(2):
            qid = re.search(r'name="question" value="([0-9a-f]{16})"', html).group(1)
            choice = re.search(r'name="choice" value="([0-9a-f]{16})"', html).group(1)
            html = (
                opener.open(
                    base + "/answer",
                    data=urllib.parse.urlencode({"question": qid, "choice": choice}).encode(),
                )
                .read()
                .decode()
            )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    rows = _rows(survey)
    assert len(rows) == 2, "every answer acknowledged before the kill is in the database"
    with sqlite3.connect(survey / "answers.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
