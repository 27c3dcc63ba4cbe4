"""`cartoonlab survey serve survey/`: the survey as a small Flask app (no JavaScript build step).

One question per page: the reference, the options as buttons (click, tap, or press the
number key), a progress bar. A participant gets a random token, kept in a cookie and in a
resume link shown on every page, so they can stop and continue (on another device with
the link). Each participant sees the questions, and each question's options, in an order
of their own (seeded by the token: counterbalanced, yet stable on reload).

Who takes part: anyone who opens the page, up to `max_participants` when set; with
`invite_only`, only holders of an invitation (`invite`: a participant created ahead, whose
resume link is the invitation), so one person cannot vote again as a new participant.

Links name the address the operator configured (`public_url`, else the address the server
listens on), never the request's `Host` header, which the client writes.

Bounded input: an unknown participant (403), question (404) or option (400), a malformed
form (400), a body over 16 KiB (413, on its Content-Length, before it is read) and a
second answer to a question (409) change nothing and get a short answer saying why. The
server (waitress) has explicit limits too: see `waitress_options`.
"""

from __future__ import annotations

import json
import random
import re
import socket
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

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

from cartoonlab.survey import CHANNEL_TIMEOUT, CONNECTION_LIMIT, checked_port
from cartoonlab.survey.build import SURVEY
from cartoonlab.survey.store import Duplicate, Full, Store, now
from cartoonlab.utils import atomic_write_text

COOKIE = "cartoonlab_survey"
ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{16}")  # 16: a survey built when ids came from the seed
TOKEN = re.compile(r"[A-Za-z0-9_-]{10,64}")
ANSWERS, INVITES = "answers.sqlite", "invites.txt"
BODY_LIMIT = 16 * 1024  # an answer is a few ids: nothing legitimate comes near it
DEFAULT_URL = "http://127.0.0.1:8000"  # what `serve` listens on by default
WILDCARDS = ("", "0.0.0.0", "::")  # listen on every address: none of them is a link's


def load_survey(folder: Path) -> dict:
    path = folder / SURVEY
    if not path.is_file():
        raise FileNotFoundError(2, "No survey here (build one with `cartoonlab survey build`)", str(path))
    survey = json.loads(path.read_text())
    survey["by_id"] = {q["id"]: q for q in survey["questions"]}
    return survey


def create_app(
    folder: str | Path,
    public_url: str = DEFAULT_URL,
    invite_only: bool = False,
    max_participants: int | None = None,
) -> Flask:
    """The survey app; its links name `public_url` (`app.config["PUBLIC_URL"]`, which
    `make_server` sets to the bound address when no public URL is given)."""
    folder = Path(folder)
    survey, store = load_survey(folder), Store(folder / ANSWERS)
    if max_participants is not None and max_participants < 1:
        raise ValueError(f"the participant cap must be at least 1, got {max_participants}")
    if invite_only and store.participants() == 0:
        raise ValueError(
            f"{folder} has no invitations, so no one could take part: write some with "
            f"`cartoonlab survey invite {folder} --count N --public-url URL`"
        )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = BODY_LIMIT
    app.config["PUBLIC_URL"] = checked_url(public_url)

    def participant() -> str | None:
        token = request.cookies.get(COOKIE)
        return token if token and TOKEN.fullmatch(token) and store.is_participant(token) else None

    def new_participant() -> str:
        if invite_only:
            abort(403, "this survey is by invitation: open the link you were given")
        try:
            return store.new_participant(request.headers.get("User-Agent"), max_participants)
        except Full:
            abort(403, "the survey has all the participants it needs: thank you all the same")

    def order(token: str) -> list[str]:
        ids = [q["id"] for q in survey["questions"]]
        random.Random(token).shuffle(ids)
        return ids

    def with_cookie(response, token: str):
        response.set_cookie(COOKIE, token, max_age=90 * 24 * 3600, httponly=True, samesite="Lax")
        return response

    @app.before_request
    def refuse_large_bodies():
        """413 on the declared length, for every route, before the body is read (Flask's
        own check runs only where a form is parsed)."""
        if (request.content_length or 0) > BODY_LIMIT:
            abort(413, f"a request body may be {BODY_LIMIT // 1024} KiB at most")

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
        return render_template(
            "start.html",
            n=len(survey["questions"]),
            k=n_options,
            resume=participant(),
            invite_only=invite_only,
        )

    @app.post("/start")
    def start():
        token = participant() or new_participant()
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
            resume_url=link(app.config["PUBLIC_URL"], token),
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
        if not name.endswith(".png") or not ID.fullmatch(name[:-4]):
            abort(404, "no such image")
        response = make_response(send_from_directory(folder / "img", name))
        response.cache_control.max_age = 3600
        return response

    return app


def link(public_url: str, token: str) -> str:
    """A participant's resume link (an invitation, for an invited one)."""
    return f"{public_url}/p/{token}"


def checked_url(url: str) -> str:
    """`url` without a trailing slash, if it is an http(s) address; ValueError otherwise."""
    parts = urlsplit(url)
    try:
        ok = parts.scheme in ("http", "https") and parts.hostname and parts.port != 0
    except ValueError:  # a port out of range
        ok = False
    if not ok or parts.query or parts.fragment:
        raise ValueError(
            f"a public URL is an http(s) address such as https://survey.example.org/study, got {url!r}"
        )
    return url.rstrip("/")


def address_url(host: str, port: int) -> str:
    """http://HOST:PORT for a listening address; a wildcard host is named by this machine's
    name (participants cannot open 0.0.0.0: `--public-url` says what they can open)."""
    if host in WILDCARDS:
        host = socket.gethostname()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def invite(folder: str | Path, n: int, public_url: str) -> tuple[Path, list[str]]:
    """`n` invitations (participants created ahead), their links appended to
    `folder/invites.txt` (never served): (that file, the new links)."""
    folder, url = Path(folder), checked_url(public_url)
    load_survey(folder)  # a survey folder, or FileNotFoundError
    if n < 1:
        raise ValueError(f"the number of invitations must be at least 1, got {n}")
    links = [link(url, token) for token in Store(folder / ANSWERS).invite(n)]
    path = folder / INVITES
    atomic_write_text(path, (path.read_text() if path.is_file() else "") + "".join(f"{x}\n" for x in links))
    return path, links


def waitress_options(
    connection_limit: int = CONNECTION_LIMIT, channel_timeout: int = CHANNEL_TIMEOUT
) -> dict:
    """waitress's settings, all explicit: its defaults let 100 idle sockets lock everyone
    out for two minutes (100 connections, idle ones closed after 120 s) and read 1 GiB
    bodies before the app can refuse them."""
    if connection_limit < 1 or channel_timeout < 1:
        raise ValueError(
            f"the connection limit and channel timeout must be at least 1, got {connection_limit}, "
            f"{channel_timeout}"
        )
    return {
        "threads": 8,
        "connection_limit": connection_limit,  # open sockets, idle ones included
        "channel_timeout": channel_timeout,  # seconds before an idle socket is closed
        "cleanup_interval": max(1, min(10, channel_timeout // 2)),  # how often idle ones are looked for
        "max_request_body_size": BODY_LIMIT + 1,  # waitress refuses a length >= this, unread
        "max_request_header_size": 32 * 1024,  # a cookie, a user agent: a few hundred bytes
        "asyncore_use_poll": True,  # select() fails past 1024 descriptors
        "backlog": 1024,
    }


def make_server(
    folder: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    public_url: str | None = None,
    connection_limit: int = CONNECTION_LIMIT,
    channel_timeout: int = CHANNEL_TIMEOUT,
    **app_options,
):
    """The survey behind a bound, not yet running, waitress server: (server, the URL its
    links name: `public_url`, else the address it listens on, port 0 resolved)."""
    from waitress import create_server

    port, options = checked_port(port), waitress_options(connection_limit, channel_timeout)
    _allow_open_files(connection_limit)
    app = create_app(folder, public_url or DEFAULT_URL, **app_options)
    server = create_server(app, host=host, port=port, **options)
    if not public_url:
        app.config["PUBLIC_URL"] = address_url(host, listening(server)[0][1])
    return server, app.config["PUBLIC_URL"]


def listening(server) -> list[tuple[str, int]]:
    """The (host, port) pairs a waitress server listens on (two for `localhost`: IPv4 and 6)."""
    return getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, **options) -> None:
    """Serve with waitress (a production WSGI server; threads, no debugger) until Ctrl-C,
    announcing the address it really listens on (port 0: a free port)."""
    folder = Path(folder)
    server, url = make_server(folder, host, port, **options)
    survey, where = load_survey(folder), ", ".join(f"{h}:{p}" for h, p in listening(server))
    if any(len(q["id"]) == 16 for q in survey["questions"]):
        print(
            f"warning: {folder} was built when ids came from --seed: anyone can recompute its "
            "key.json; build it again before collecting answers",
            flush=True,
        )
    print(
        f"survey of {len(survey['questions'])} questions at {url}/ (listening on {where}; "
        f"answers: {folder / ANSWERS}); Ctrl-C stops it",
        flush=True,
    )
    if host in WILDCARDS and not options.get("public_url"):
        print(f"note: links name {url}; --public-url sets what participants open instead", flush=True)
    server.run()


def _allow_open_files(connection_limit: int) -> None:
    """Raise this process's open-file limit to what `connection_limit` sockets need (each
    is a file descriptor), or refuse, rather than fail on the connection that crosses it."""
    try:
        import resource
    except ImportError:  # not Unix: nothing to raise
        return
    need = connection_limit + 64  # the listening sockets, the database, images being sent
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise ValueError(
            f"--connection-limit {connection_limit} needs about {need} open files and this "
            f"process may open {hard} at most (`ulimit -Hn`): lower it"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
