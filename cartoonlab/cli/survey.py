"""`cartoonlab survey build|invite|serve|tally`: a blind user study of the ablation's cells."""

from __future__ import annotations

import argparse

from cartoonlab.cli.args import folder_path, int_at_least, positive_int, words
from cartoonlab.cli.exits import EXIT_OK
from cartoonlab.survey import CHANNEL_TIMEOUT, CONNECTION_LIMIT, checked_port


def port_number(text: str) -> int:
    """A TCP port, 0 for any free one (waitress would listen on another port than 99999)."""
    try:
        return checked_port(int_at_least(0)(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


port_number.__name__ = "port"

HELP = (
    "a blind survey of the cells' translations: build the questions, invite participants, serve "
    "them, tally the answers"
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "build",
        help="write a blinded question set from an ablation's finished runs",
        description="Each question: a held-out test cartoon as the style reference and one "
        "held-out test photo translated by every cell (plus a real cartoon), shuffled, under "
        "secret random names. The same --seed draws the same photos and cells (not the names).",
    )
    p.add_argument(
        "results", type=folder_path, metavar="RESULTS", help="an ablation's results folder, e.g. results/real"
    )
    p.add_argument("--cells", nargs="+", required=True, help="the cells to compare, e.g. cyclegan cartoongan")
    p.add_argument(
        "--questions", type=positive_int, default=24, help="number of questions (default 24, as DIYA)"
    )
    p.add_argument("--out", type=folder_path, required=True, help="the survey folder to write (new or empty)")
    p.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="draws the photos, references and real cartoons (names and option order are secret, not seeded)",
    )
    p.add_argument(
        "--run-seed",
        type=int_at_least(0),
        default=None,
        help="which training seed's runs (default: each cell's lowest finished seed)",
    )
    p.add_argument("--no-real", action="store_true", help="leave out the real cartoon option")
    p.set_defaults(func=build)
    p = sub.add_parser(
        "invite",
        help="write invitation links (SURVEY/invites.txt) for `serve --invite-only`",
        description="Each invitation admits one participant (it is their resume link); a server "
        "started with --invite-only admits no one else, so no one can vote twice as a new participant.",
    )
    p.add_argument("survey", type=folder_path, metavar="SURVEY")
    p.add_argument("--count", type=positive_int, required=True, help="how many invitations to add")
    p.add_argument(
        "--public-url",
        required=True,
        help="the address participants open, e.g. http://lab-pc:8000 (the links start with it)",
    )
    p.set_defaults(func=invite)
    p = sub.add_parser("serve", help="serve the survey (answers go to SURVEY/answers.sqlite)")
    p.add_argument("survey", type=folder_path, metavar="SURVEY")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to take answers from other machines")
    p.add_argument("--port", type=port_number, default=8000, help="default 8000; 0: any free port")
    p.add_argument(
        "--public-url",
        default=None,
        help="the address participants open, for resume links (default: http://HOST:PORT)",
    )
    p.add_argument("--invite-only", action="store_true", help="admit only holders of a `survey invite` link")
    p.add_argument(
        "--max-participants",
        type=positive_int,
        default=None,
        help="refuse new participants once this many exist (invited ones included)",
    )
    p.add_argument(
        "--connection-limit",
        type=positive_int,
        default=CONNECTION_LIMIT,
        help=f"open connections at most, idle ones included (default {CONNECTION_LIMIT})",
    )
    p.add_argument(
        "--channel-timeout",
        type=positive_int,
        default=CHANNEL_TIMEOUT,
        help=f"seconds before an idle connection is closed (default {CHANNEL_TIMEOUT})",
    )
    p.set_defaults(func=serve)
    p = sub.add_parser(
        "tally", help="preference shares with 95%% intervals, pairwise tests, agreement, a bar plot"
    )
    p.add_argument("survey", type=folder_path, metavar="SURVEY")
    p.add_argument("--export", choices=["csv"], default=None, help="also write tally.csv and answers.csv")
    p.set_defaults(func=tally)


def build(args: argparse.Namespace) -> int:
    from cartoonlab.survey.build import build as build_survey

    out = build_survey(
        args.results,
        words(args.cells),
        args.questions,
        args.out,
        seed=args.seed,
        run_seed=args.run_seed,
        real=not args.no_real,
    )
    print(f"wrote {args.questions} questions to {out} (serve them with `cartoonlab survey serve {out}`)")
    return EXIT_OK


def invite(args: argparse.Namespace) -> int:
    from cartoonlab.survey.app import invite as invite_participants

    path, links = invite_participants(args.survey, args.count, args.public_url)
    print(f"added {len(links)} invitation links to {path} (one per participant; each admits one person)")
    return EXIT_OK


def serve(args: argparse.Namespace) -> int:
    from cartoonlab.survey.app import serve as serve_survey

    serve_survey(
        args.survey,
        args.host,
        args.port,
        public_url=args.public_url,
        invite_only=args.invite_only,
        max_participants=args.max_participants,
        connection_limit=args.connection_limit,
        channel_timeout=args.channel_timeout,
    )
    return EXIT_OK


def tally(args: argparse.Namespace) -> int:
    from cartoonlab.survey.tally import load, markdown, write

    t = load(args.survey)
    written = write(args.survey, t, args.export)
    print(markdown(t), end="")
    print(f"wrote {', '.join(map(str, written))}")
    return EXIT_OK
