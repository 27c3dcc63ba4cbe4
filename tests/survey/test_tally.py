"""`survey tally` on hand-made answers with known shares, intervals, tests and agreement."""

import csv
import json

import pytest

from cartoonlab.survey.store import Store
from cartoonlab.survey.tally import Tally, fleiss_kappa, load, markdown, wilson, write


def test_wilson_interval_matches_the_textbook_values():
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(10, 10)[1] == pytest.approx(1.0)


def test_fleiss_kappa_of_fleiss_example():
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    items = [{str(j): n for j, n in enumerate(row) if n} for row in table]
    assert fleiss_kappa(items) == pytest.approx(0.210, abs=1e-3)
    assert fleiss_kappa([{"a": 1}]) is None, "one rating per item: undefined"
    assert fleiss_kappa([{"a": 3}, {"a": 2}]) is None, "a single category: undefined"


def test_shares_pairwise_test_and_bootstrap_on_known_answers():
    # 10 participants x 1 question: a 9 times, b once; then a second question all pick b
    answers = [(f"p{i}", "q1", "a" if i < 9 else "b") for i in range(10)]
    t = Tally(["a", "b", "real cartoon"], answers)
    shares = {r["cell"]: r for r in t.shares()}
    assert shares["a"]["votes"] == 9 and shares["a"]["share"] == 0.9 and shares["real cartoon"]["votes"] == 0
    assert shares["a"]["wilson"] == pytest.approx(wilson(9, 10))
    lo, hi = shares["a"]["bootstrap"]
    assert 0.6 <= lo < 0.9 < hi <= 1.0
    pair = next(p for p in t.pairwise() if (p["a"], p["b"]) == ("a", "b"))
    assert pair["p"] == pytest.approx(22 / 1024), "exact two-sided binomial: 2 * P(X <= 1 | n=10, 1/2)"
    t2 = Tally(["a", "b"], answers + [(f"p{i}", "q2", "b") for i in range(10)])
    assert t2.kappa() == pytest.approx(fleiss_kappa([{"a": 9, "b": 1}, {"b": 10}]))
    assert 0 < t2.kappa() < 1


def test_tally_of_a_served_survey_writes_markdown_plot_and_csv(survey):
    key = json.loads((survey / "key.json").read_text())
    by_cell = {}
    for oid, cell in key["options"].items():
        by_cell.setdefault(cell, []).append(oid)
    shown = json.loads((survey / "survey.json").read_text())["questions"]
    store = Store(survey / "answers.sqlite")
    for i in range(4):  # every participant picks cartoongan on every question but the first one's
        token = store.new_participant()
        for q in shown:
            cell = "cyclegan" if (i == 0 and q is shown[0]) else "cartoongan"
            store.answer(
                token, q["id"], next(o["id"] for o in q["options"] if key["options"][o["id"]] == cell)
            )
    t = load(survey)
    assert t.counts == {"cartoongan": 11, "cyclegan": 1}
    paths = write(survey, t, export="csv")
    assert [p.name for p in paths] == ["tally.md", "tally.png", "tally.csv", "answers.csv"]
    md = (survey / "tally.md").read_text()
    assert (
        md == markdown(t)
        and "| `cartoongan` | 11 | 91.7 % |" in md
        and "12 answers from 4 participant(s)" in md
    )
    rows = list(csv.DictReader((survey / "tally.csv").open()))
    assert [r["option"] for r in rows] == ["cyclegan", "cartoongan", "real cartoon"]
    assert len(list(csv.DictReader((survey / "answers.csv").open()))) == 12


def test_the_ablation_report_includes_a_survey_that_has_answers(survey, tmp_path):
    from cartoonlab.cli.ablation import survey_section

    assert survey_section(survey, required=False) == "", "no answers yet: no section"
    with pytest.raises(FileNotFoundError, match="Not a survey folder"):
        survey_section(tmp_path / "nowhere", required=True)
    store, q = (
        Store(survey / "answers.sqlite"),
        json.loads((survey / "survey.json").read_text())["questions"][0],
    )
    store.answer(store.new_participant(), q["id"], q["options"][0]["id"])
    section = survey_section(survey, required=False)
    assert section.startswith("\n## User study") and "1 answers from 1 participant(s)" in section
