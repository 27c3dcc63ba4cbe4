"""`survey build`: blinded, reproducible, from the runs' test split, never overwriting."""

import json
import re

import pytest

from cartoonlab.survey.build import REAL, build

from .conftest import CELLS


def test_questions_are_blind_complete_and_reproducible(results, survey, tmp_path):
    shown = json.loads((survey / "survey.json").read_text())
    key = json.loads((survey / "key.json").read_text())
    assert len(shown["questions"]) == 3 and key["cells"] == [*CELLS, REAL]
    for q in shown["questions"]:
        assert re.fullmatch(r"[0-9a-f]{16}", q["id"]) and (survey / q["reference"]).is_file()
        assert sorted(key["options"][o["id"]] for o in q["options"]) == sorted(key["cells"]), (
            "one option per cell"
        )
        for o in q["options"]:
            assert o["image"] == f"img/{o['id']}.png" and (survey / o["image"]).is_file()
        assert "testA" in key["questions"][q["id"]]["photo"], "questions come from the test split"
        assert key["questions"][q["id"]]["real"] != key["questions"][q["id"]]["reference"]
    text = (survey / "survey.json").read_text()
    assert not any(c in text for c in CELLS) and "testA" not in text, "what is served names no cell or file"
    orders = [[key["options"][o["id"]] for o in q["options"]] for q in shown["questions"]]
    assert len({tuple(o) for o in orders}) > 1, "option order is shuffled"
    again = build(results, list(CELLS), 3, tmp_path / "again", seed=0)
    assert (again / "survey.json").read_text() == text, "the same seed builds the same survey"
    for q in shown["questions"]:
        for o in q["options"]:
            assert (again / o["image"]).read_bytes() == (survey / o["image"]).read_bytes()


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
