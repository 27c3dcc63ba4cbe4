"""`survey build`: blinded, reproducible, from the runs' test split, never overwriting."""

import json
import re

import pytest

from cartoonlab.survey.build import REAL, build

from .conftest import CELLS


def _content(survey):
    """Question by question: the key's photo, reference and real cartoon, and the images by
    cell (what the participants see and what it means), leaving the ids out."""
    shown = json.loads((survey / "survey.json").read_text())
    key = json.loads((survey / "key.json").read_text())
    return [
        (
            key["questions"][q["id"]],
            (survey / q["reference"]).read_bytes(),
            {key["options"][o["id"]]: (survey / o["image"]).read_bytes() for o in q["options"]},
        )
        for q in shown["questions"]
    ]


def _ids(survey):
    shown = json.loads((survey / "survey.json").read_text())["questions"]
    return {q["id"] for q in shown} | {o["id"] for q in shown for o in q["options"]}


def _stored_orders(survey):
    """Each question's options, as cells, in the order survey.json stores them."""
    key = json.loads((survey / "key.json").read_text())
    shown = json.loads((survey / "survey.json").read_text())["questions"]
    return [[key["options"][o["id"]] for o in q["options"]] for q in shown]


def test_questions_are_blind_complete_and_reproducible(results, survey, tmp_path):
    shown = json.loads((survey / "survey.json").read_text())
    key = json.loads((survey / "key.json").read_text())
    assert len(shown["questions"]) == 3 and key["cells"] == [*CELLS, REAL]
    for q in shown["questions"]:
        assert re.fullmatch(r"[0-9a-f]{32}", q["id"]) and (survey / q["reference"]).is_file()
        assert sorted(key["options"][o["id"]] for o in q["options"]) == sorted(key["cells"]), (
            "one option per cell"
        )
        for o in q["options"]:
            assert o["image"] == f"img/{o['id']}.png" and (survey / o["image"]).is_file()
        assert "testA" in key["questions"][q["id"]]["photo"], "questions come from the test split"
        assert key["questions"][q["id"]]["real"] != key["questions"][q["id"]]["reference"]
    text = (survey / "survey.json").read_text()
    assert not any(c in text for c in CELLS) and "testA" not in text, "what is served names no cell or file"
    assert len(_ids(survey)) == 3 * (1 + 3), "every question and option has an id of its own"


def test_the_same_seed_draws_the_same_content_under_new_secret_ids(results, survey, tmp_path):
    """The seed reproduces what is asked, never the names: a seed is guessable (its default
    is 0), and seeded ids let anyone recompute key.json."""
    again = build(results, list(CELLS), 3, tmp_path / "again", seed=0)
    assert _content(again) == _content(survey), "the same photos, references, real cartoons and images"
    assert not _ids(again) & _ids(survey), "ids are new in every build: nothing derives them from the seed"
    other = build(results, list(CELLS), 3, tmp_path / "other", seed=1)
    assert [c[0] for c in _content(other)] != [c[0] for c in _content(survey)], "another seed, other photos"


def test_the_stored_option_order_is_secret_too(results, tmp_path):
    """A participant can undo their own shuffle of the options (it is seeded by their token,
    which they hold), so the order survey.json stores must not come from the seed either:
    two builds with one seed store 6 questions' options in different orders (all alike by
    chance: (1/3!)^6, 2e-5)."""
    a = build(results, list(CELLS), 6, tmp_path / "a", seed=0)
    b = build(results, list(CELLS), 6, tmp_path / "b", seed=0)
    assert _content(a) == _content(b)
    assert _stored_orders(a) != _stored_orders(b)


def test_translations_are_the_cells_own(survey):
    import numpy as np
    from PIL import Image

    shown = json.loads((survey / "survey.json").read_text())
    key = json.loads((survey / "key.json").read_text())
    q = shown["questions"][0]
    images = {key["options"][o["id"]]: np.asarray(Image.open(survey / o["image"])) for o in q["options"]}
    assert images[CELLS[0]].shape == (16, 16, 3)
    assert not np.array_equal(images[CELLS[0]], images[CELLS[1]]), "two different generators"


def test_refusals_name_what_is_wrong(results, survey, tmp_path):
    with pytest.raises(ValueError, match="never overwritten"):
        build(results, list(CELLS), 3, survey)
    with pytest.raises(ValueError, match="no finished run of cell 'improved'"):
        build(results, ["improved"], 3, tmp_path / "s2")
    with pytest.raises(ValueError, match="6 and"):
        build(results, list(CELLS), 7, tmp_path / "s3")
    with pytest.raises(ValueError, match="different cells"):
        build(results, ["cyclegan", "cyclegan"], 3, tmp_path / "s4")
    assert not (tmp_path / "s3").exists() and not list(tmp_path.glob(".s*.tmp")), (
        "a refused build writes nothing"
    )
