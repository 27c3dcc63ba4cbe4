"""`cartoonlab survey build|serve|tally`: a blind user study of the ablation's cells."""

from __future__ import annotations

import argparse

from cartoonlab.cli.args import folder_path, int_at_least, positive_int, words
from cartoonlab.cli.exits import EXIT_OK

HELP = "a blind survey of the cells' translations: build the questions, serve them, tally the answers"


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "build",
        help="write a blinded question set from an ablation's finished runs",
        description="Each question: a held-out test cartoon as the style reference and one "
        "held-out test photo translated by every cell (plus a real cartoon), shuffled, under "
        "random names. The same --seed builds the same survey.",
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
        "--seed", type=int_at_least(0), default=0, help="draws photos, references, order and names"
    )
    p.add_argument(
        "--run-seed",
        type=int_at_least(0),
        default=None,
        help="which training seed's runs (default: each cell's lowest finished seed)",
    )
    p.add_argument("--no-real", action="store_true", help="leave out the real cartoon option")
    p.set_defaults(func=build)
    p = sub.add_parser("serve", help="serve the survey (answers go to SURVEY/answers.sqlite)")
    p.add_argument("survey", type=folder_path, metavar="SURVEY")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to take answers from other machines")
    p.add_argument("--port", type=int_at_least(1), default=8000)
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


def serve(args: argparse.Namespace) -> int:
    from cartoonlab.survey.app import serve as serve_survey

    serve_survey(args.survey, args.host, args.port)
    return EXIT_OK


def tally(args: argparse.Namespace) -> int:
    from cartoonlab.survey.tally import load, markdown, write

    t = load(args.survey)
    written = write(args.survey, t, args.export)
    print(markdown(t), end="")
    print(f"wrote {', '.join(map(str, written))}")
    return EXIT_OK
