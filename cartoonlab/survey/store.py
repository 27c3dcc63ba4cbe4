"""The answers of a survey in SQLite: one row per answer, each written in its own transaction.

`synchronous=FULL` with a rollback journal: once `answer` returns, the row survives the
server being killed (or the machine losing power); a write interrupted half-way is rolled
back on the next open, never half-applied. A participant answers a question once
(`UNIQUE(participant, question)`): a repeated submission changes nothing.

Participants are limited two ways (`survey serve --max-participants`, `survey invite`):
a cap, checked and enforced in the transaction that adds one (no two servers or threads
can both take the last place), and invitations, which are participants created ahead:
their resume links admit them, and a server started `--invite-only` admits no one else.
"""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    token      TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    user_agent TEXT
);
CREATE TABLE IF NOT EXISTS answers (
    id          INTEGER PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants(token),
    question    TEXT NOT NULL,
    choice      TEXT NOT NULL,
    shown_at    TEXT,
    answered_at TEXT NOT NULL,
    UNIQUE (participant, question)
);
"""


class Duplicate(Exception):
    """The participant has already answered this question."""


class Full(Exception):
    """The survey has as many participants as its operator allowed."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def new_participant(self, user_agent: str | None = None, limit: int | None = None) -> str:
        """A new participant's token; `Full` when `limit` participants exist already."""
        token = secrets.token_urlsafe(16)
        with self._transaction() as db:
            if limit is not None and _count(db) >= limit:
                raise Full(limit)
            db.execute("INSERT INTO participants VALUES (?, ?, ?)", (token, now(), (user_agent or "")[:300]))
        return token

    def invite(self, n: int) -> list[str]:
        """`n` participants created ahead (invitations): their tokens, committed together."""
        tokens = [secrets.token_urlsafe(16) for _ in range(n)]
        with self._transaction() as db:
            db.executemany("INSERT INTO participants VALUES (?, ?, NULL)", [(t, now()) for t in tokens])
        return tokens

    def participants(self) -> int:
        """How many participants there are (invited ones included, answering or not)."""
        with closing(self._connect()) as db:
            return _count(db)

    def is_participant(self, token: str | None) -> bool:
        if not token:
            return False
        with closing(self._connect()) as db:
            return db.execute("SELECT 1 FROM participants WHERE token = ?", (token,)).fetchone() is not None

    def answered(self, token: str) -> dict[str, str]:
        """question id -> chosen option id, for one participant."""
        with closing(self._connect()) as db:
            return dict(db.execute("SELECT question, choice FROM answers WHERE participant = ?", (token,)))

    def answer(self, token: str, question: str, choice: str, shown_at: str | None = None) -> None:
        """Record one answer (committed when this returns); `Duplicate` if it exists already."""
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO answers (participant, question, choice, shown_at, answered_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (token, question, choice, shown_at, now()),
                )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise Duplicate(question) from e
            raise

    def rows(self) -> list[tuple[str, str, str, str]]:
        """Every answer: (participant, question, choice, answered_at), in order."""
        with closing(self._connect()) as db:
            return db.execute(
                "SELECT participant, question, choice, answered_at FROM answers ORDER BY id"
            ).fetchall()

    def _transaction(self):
        return _Transaction(self._connect())


def _count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM participants").fetchone()[0]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception), then close."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.db.close()
