"""`survey serve` through HTTP: submit, resume, duplicates, bad input, who may take part,
the links, the database."""

import io
import json
import re
import sqlite3

import pytest

pytest.importorskip("flask")

from cartoonlab.cli import EXIT_OK, EXIT_USER, main  # noqa: E402
from cartoonlab.survey.app import COOKIE, create_app, invite  # noqa: E402
from cartoonlab.survey.store import Store  # noqa: E402

ID = r"[0-9a-f]{32}"


def _start(client):
    r = client.post("/start")
    assert r.status_code == 303
    return client.get_cookie(COOKIE).value


def _page(client, path="/next"):
    """Follow redirects from `path`; (question id, option ids in page order) or None when done."""
    r = client.get(path, follow_redirects=True)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    m = re.search(rf'name="question" value="({ID})"', html)
    return (m.group(1), re.findall(rf'name="choice" value="({ID})"', html)) if m else None


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
    """A real server (`survey serve --port 0` in a subprocess, at the port it announces),
    answers over HTTP, then SIGKILL."""
    import http.cookiejar
    import os
    import signal
    import subprocess
    import sys
    import urllib.parse
    import urllib.request

    pytest.importorskip("waitress")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cartoonlab", "survey", "serve", str(survey), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = b""
        while not (m := re.search(rb"listening on 127\.0\.0\.1:(\d+)", output)):
            line = proc.stdout.readline()  # importing torch on a loaded machine takes a while
            assert line, f"the server did not start: {output.decode()}"
            output += line
        port = int(m.group(1))
        assert port != 0 and f"at http://127.0.0.1:{port}/".encode() in output, "the port it got, announced"
        base = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(base + "/", timeout=30)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        html = opener.open(base + "/start", data=b"").read().decode()
        for _ in range(2):
            qid = re.search(rf'name="question" value="({ID})"', html).group(1)
            choice = re.search(rf'name="choice" value="({ID})"', html).group(1)
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


def test_the_resume_link_names_the_configured_address_whatever_the_host_header_says(survey):
    """The Host header is the client's to write: a link built from it can point a
    participant (or whoever they forward the page to) anywhere."""
    for public_url, expected in [
        (None, "http://127.0.0.1:8000"),
        ("https://survey.example.org/study/", "https://survey.example.org/study"),
    ]:
        app = create_app(survey) if public_url is None else create_app(survey, public_url)
        client, token = app.test_client(use_cookies=False), Store(survey / "answers.sqlite").new_participant()
        for forged in ({}, {"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}):
            headers = {**forged, "Cookie": f"{COOKIE}={token}"}
            html = client.get("/next", headers=headers, follow_redirects=True).get_data(as_text=True)
            assert f'href="{expected}/p/{token}"' in html and "evil" not in html, forged
    with pytest.raises(ValueError, match="public URL"):
        create_app(survey, "javascript:alert(1)")


def test_invite_only_admits_each_invited_participant_and_no_one_else(survey):
    with pytest.raises(ValueError, match="no invitations"):
        create_app(survey, invite_only=True)
    path, links = invite(survey, 2, "https://survey.example.org/study/")
    assert path == survey / "invites.txt" and path.read_text().splitlines() == links
    assert all(re.fullmatch(r"https://survey\.example\.org/study/p/[\w-]{20,}", x) for x in links)
    app = create_app(survey, invite_only=True)
    stranger = app.test_client()
    assert "by invitation" in stranger.get("/").get_data(as_text=True)
    assert stranger.post("/start").status_code == 403, "no invitation, no participant"
    guest = app.test_client()
    assert guest.get("/p/" + links[0].rsplit("/", 1)[1]).status_code == 303
    qid, options = _page(guest)
    assert guest.post("/answer", data={"question": qid, "choice": options[0]}).status_code == 303
    assert guest.post("/start").status_code == 303, "an invited participant continues"
    guest.delete_cookie(COOKIE)  # the same person, cookies cleared: not a new participant
    assert guest.post("/start").status_code == 403
    assert Store(survey / "answers.sqlite").participants() == 2 and len(_rows(survey)) == 1


def test_a_participant_cap_refuses_newcomers_but_not_those_already_in(survey):
    app = create_app(survey, max_participants=2)
    first, second, third = app.test_client(), app.test_client(), app.test_client()
    _start(first), _start(second)
    r = third.post("/start")
    assert r.status_code == 403 and "all the participants it needs" in r.get_data(as_text=True)
    assert first.post("/start").status_code == 303 and _page(first) is not None
    assert Store(survey / "answers.sqlite").participants() == 2


def test_survey_invite_appends_links_and_refuses_a_bad_url(survey, capsys):
    args = ["survey", "invite", str(survey), "--count", "3", "--public-url", "http://lab-pc:8000"]
    assert main(args) == EXIT_OK and main(args) == EXIT_OK
    links = (survey / "invites.txt").read_text().splitlines()
    assert len(set(links)) == 6 and all(x.startswith("http://lab-pc:8000/p/") for x in links), "appended"
    assert Store(survey / "answers.sqlite").participants() == 6
    capsys.readouterr()
    assert main([*args[:-1], "lab-pc:8000"]) == EXIT_USER
    assert "public URL is an http(s) address" in capsys.readouterr().err
    assert len((survey / "invites.txt").read_text().splitlines()) == 6, "a refusal adds nothing"


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(survey):
    """On every route, not only where a form is parsed: a 20 MiB upload is refused on its
    Content-Length, and the stream is never touched."""

    class Unread(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise AssertionError("the body was read")

    client = create_app(survey).test_client()
    for path in ("/start", "/answer", "/"):
        r = client.open(
            path,
            method="POST" if path != "/" else "GET",
            content_type="application/x-www-form-urlencoded",
            environ_overrides={"CONTENT_LENGTH": str(20 << 20), "wsgi.input": Unread()},
        )
        assert r.status_code == 413, path
    assert Store(survey / "answers.sqlite").participants() == 0


def test_an_invalid_port_is_refused_in_one_line(survey, capsys):
    """waitress took `--port 99999`, listened on another port and the server announced 99999."""
    from cartoonlab.survey.app import make_server

    for port, why in [("99999", "1-65535"), ("65536", "1-65535"), ("-1", "at least 0"), ("x", "whole")]:
        assert main(["survey", "serve", str(survey), "--port", port]) == EXIT_USER
        last = capsys.readouterr().err.splitlines()[-1]
        assert last.startswith("cartoonlab survey serve: error: argument --port:") and why in last, last
    with pytest.raises(ValueError, match="1-65535"):
        make_server(survey, port=99999)
