"""`cartoonlab survey serve survey/`: the survey as a small Flask app (no JavaScript build step).

One question per page: the reference, the options as buttons (click, tap, or press the
number key), a progress bar. A participant gets a random token, kept in a cookie and in a
resume link shown on every page, so they can stop and continue (on another device with
the link). Each participant sees the questions, and each question's options, in an order
of their own (seeded by the token: counterbalanced, yet stable on reload).

Bounded input: an unknown participant (403), question (404) or option (400), a malformed
form (400), a body over 16 KiB (413) and a second answer to a question (409) change
nothing and get a short answer saying why.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime
from pathlib import Path

from flask import (
    Flask,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from cartoonlab.survey.build import SURVEY
from cartoonlab.survey.store import Duplicate, Store, now

COOKIE = "cartoonlab_survey"
ID = re.compile(r"[0-9a-f]{16}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{10,64}")


def load_survey(folder: Path) -> dict:
    path = folder / SURVEY
    if not path.is_file():
        raise FileNotFoundError(2, "No survey here (build one with `cartoonlab survey build`)", str(path))
    survey = json.loads(path.read_text())
    survey["by_id"] = {q["id"]: q for q in survey["questions"]}
    return survey


def create_app(folder: str | Path) -> Flask:
    folder = Path(folder)
    survey, store = load_survey(folder), Store(folder / "answers.sqlite")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024

    def participant() -> str | None:
        token = request.cookies.get(COOKIE)
        return token if token and TOKEN.fullmatch(token) and store.is_participant(token) else None

    def order(token: str) -> list[str]:
        ids = [q["id"] for q in survey["questions"]]
        random.Random(token).shuffle(ids)
        return ids

    def with_cookie(response, token: str):
        response.set_cookie(COOKIE, token, max_age=90 * 24 * 3600, httponly=True, samesite="Lax")
        return response

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(409)
    @app.errorhandler(413)
    def error(e):
        return render_template("error.html", code=e.code, message=e.description), e.code

    @app.get("/")
    def index():
        n_options = len(survey["questions"][0]["options"]) if survey["questions"] else 0
        return render_template("start.html", n=len(survey["questions"]), k=n_options, resume=participant())

    @app.post("/start")
    def start():
        token = participant() or store.new_participant(request.headers.get("User-Agent"))
        return with_cookie(redirect(url_for("next_question"), 303), token)

    @app.get("/p/<token>")
    def resume(token: str):
        if not TOKEN.fullmatch(token) or not store.is_participant(token):
            abort(404, "unknown resume link")
        return with_cookie(redirect(url_for("next_question"), 303), token)

    @app.get("/next")
    def next_question():
        token = participant()
        if token is None:
            return redirect(url_for("index"), 303)
        done = store.answered(token)
        left = [q for q in order(token) if q not in done]
        return redirect(url_for("question", qid=left[0]) if left else url_for("finished"), 303)

    @app.get("/q/<qid>")
    def question(qid: str):
        token = participant()
        if token is None:
            return redirect(url_for("index"), 303)
        q = survey["by_id"].get(qid) or abort(404, "unknown question")
        done = store.answered(token)
        if qid in done:
            return redirect(url_for("next_question"), 303)
        options = [{"id": o["id"], "image": Path(o["image"]).name} for o in q["options"]]
        random.Random(token + qid).shuffle(options)
        return render_template(
            "question.html",
            question=qid,
            reference=Path(q["reference"]).name,
            options=options,
            number=len(done) + 1,
            total=len(survey["questions"]),
            instructions=survey["instructions"],
            shown_at=now(),
            resume_url=url_for("resume", token=token, _external=True),
        )

    @app.post("/answer")
    def answer():
        token = participant() or abort(403, "no participant: start the survey first (cookies needed)")
        qid, choice, shown_at = (request.form.get(k, "") for k in ("question", "choice", "shown_at"))
        if not ID.fullmatch(qid) or not ID.fullmatch(choice):
            abort(400, "malformed answer: a question id and an option id are needed")
        q = survey["by_id"].get(qid) or abort(404, "unknown question")
        if choice not in {o["id"] for o in q["options"]}:
            abort(400, "that option does not belong to this question")
        try:
            shown_at = datetime.fromisoformat(shown_at).isoformat() if shown_at else None
        except ValueError:
            abort(400, "malformed shown_at time")
        try:
            store.answer(token, qid, choice, shown_at)
        except Duplicate:
            abort(409, "this question was answered already; the first answer is kept")
        return redirect(url_for("next_question"), 303)

    @app.get("/done")
    def finished():
        return render_template("done.html", total=len(survey["questions"]))

    @app.get("/img/<name>")
    def image(name: str):
        if not re.fullmatch(r"[0-9a-f]{16}\.png", name):
            abort(404, "no such image")
        response = make_response(send_from_directory(folder / "img", name))
        response.cache_control.max_age = 3600
        return response

    return app


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve with waitress (a production WSGI server; threads, no debugger)."""
    from waitress import serve as waitress_serve

    app = create_app(folder)
    print(
        f"survey of {len(load_survey(Path(folder))['questions'])} questions at http://{host}:{port}/ "
        f"(answers: {Path(folder) / 'answers.sqlite'}); Ctrl-C stops it",
        flush=True,
    )
    waitress_serve(app, host=host, port=port, threads=8)
