"""A blind user study of the DIYA post's kind, as a tool (`cartoonlab survey build|invite|serve|tally`).

Each question shows a style reference (a held-out cartoon) and, in random order under
random names, the translations of one held-out photo by every chosen cell (and, as in the
DIYA post, a real cartoon); a participant picks the one closest in style. `build` writes
the question set, `invite` invitation links (for a survey open to invited people only),
`serve` a small web app that stores every answer in SQLite, `tally` the preference
shares with confidence intervals, pairwise tests and agreement.

Layout of a survey folder: `survey.json` (what is shown: questions, option ids, image
files), `key.json` (option id -> cell: never served), `img/` (the images, random names),
`answers.sqlite` (written by `serve`), `invites.txt` (written by `invite`: never served),
and `tally.md` / `tally.png` / `tally.csv`.
"""

# `serve`'s limits on connections (here, not in `app`, so the CLI can name them without Flask):
# waitress's own defaults, 100 and 120 s, let 100 idle sockets lock everyone out for minutes
CONNECTION_LIMIT = 500  # open connections at most, idle ones included
CHANNEL_TIMEOUT = 30  # seconds before an idle connection is closed


def checked_port(port: int) -> int:
    """`port`, if a TCP port (0: any free one); ValueError otherwise (waitress would listen
    on another port than the one asked for)."""
    if not 0 <= port <= 65535:
        raise ValueError(f"a port is 1-65535 (or 0: any free port), got {port}")
    return port
