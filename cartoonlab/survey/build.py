"""`cartoonlab survey build RESULTS --cells a b --questions 24 --out survey/`.

Questions are drawn from the runs' held-out **test** photos and cartoons (the split the
tables report), translated by each cell's checkpoint with the best validation FID (its
`last.ckpt` where there is none) at the training scale, exactly as the test scores them.
Blinding: every question and option gets a secret random id (`secrets`: 128 bits, never
derived from `--seed`), images are named by those ids, and each question's options are
stored in a secret random order; only `key.json`, which the server never serves, says which
option is which cell. Were ids or that order drawn from the seed (as they once were, with a
default seed of 0), anyone could rebuild the key: open the survey, undo their own shuffle
(seeded by their token, which they hold) and replay the seed. The same `--seed` still draws
the same *content*: the same photos, references, real cartoons and cells, question by
question, and so the same images; only names and the stored option order differ.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
from pathlib import Path
from types import SimpleNamespace

from cartoonlab.ablation.identity import datamodule_of
from cartoonlab.runs import is_done, read_record, scored_checkpoint

REAL = "real cartoon"  # the option that is a real held-out cartoon (the DIYA post's control)
SURVEY, KEY = "survey.json", "key.json"
INSTRUCTIONS = "Which image is closest in style to the reference?"


def find_run(results: Path, cell: str, seed: int | None = None) -> Path:
    """The finished run of `cell` under `results/runs/` (of `seed`, or the lowest finished one)."""
    runs = {}
    for d in (results / "runs").glob(f"{cell}-s*"):
        suffix = d.name[len(cell) + 2 :]
        if d.is_dir() and suffix.isdigit() and is_done(read_record(d / "metrics.json")):
            runs[int(suffix)] = d
    if seed is not None and seed in runs:
        return runs[seed]
    if seed is None and runs:
        return runs[min(runs)]
    which = f"of seed {seed} " if seed is not None else ""
    raise ValueError(
        f"no finished run of cell {cell!r} {which}in {results / 'runs'} "
        f"(finished seeds: {sorted(runs) or 'none'}; `cartoonlab ablation status` lists them)"
    )


def build(
    results: str | Path,
    cells: list[str],
    n_questions: int,
    out: str | Path,
    seed: int = 0,
    run_seed: int | None = None,
    real: bool = True,
) -> Path:
    """Write a survey folder (see `cartoonlab.survey`) to `out`, atomically; `out`."""
    results, out = Path(results), Path(out)
    if len(set(cells)) != len(cells) or not cells:
        raise ValueError(f"--cells must name one or more different cells, got {cells}")
    if len(cells) + real < 2:
        raise ValueError("a question needs two options at least: name two cells, or keep the real cartoon")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(
            f"{out} exists and is not an empty folder: a survey is never overwritten "
            "(its answers would no longer match its questions); choose another --out"
        )
    runs = {c: find_run(results, c, run_seed) for c in cells}
    dm = datamodule_of([SimpleNamespace(dir=d) for d in runs.values()])
    if dm is None:
        raise ValueError(
            f"the runs' data could not be read (see above): {', '.join(map(str, runs.values()))}"
        )
    photos, cartoons = dm.files["photo_test"], dm.files["cartoon_test"]
    if len(photos) < n_questions or len(cartoons) < 1 + real:
        raise ValueError(
            f"{n_questions} questions need as many test photos and {1 + real} test cartoons; the "
            f"runs' test split has {len(photos)} and {len(cartoons)}: ask for fewer"
        )
    rng = random.Random(seed)
    chosen = rng.sample(photos, n_questions)
    refs = [rng.choice(cartoons) for _ in chosen]
    reals = [rng.choice([c for c in cartoons if c != r]) for r in refs] if real else []
    images = {c: _translations(scored_checkpoint(runs[c]), chosen, dm.hparams.image_size) for c in cells}
    if real:
        images[REAL] = _load(reals, dm.hparams.image_size)
    refs_img = _load(refs, dm.hparams.image_size)

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_survey(tmp, chosen, refs, reals, refs_img, images, cells, runs, seed)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def new_id() -> str:
    """A question's or option's id (and image name): 32 hex digits from the OS's CSPRNG."""
    return secrets.token_hex(16)


def _write_survey(tmp: Path, chosen, refs, reals, refs_img, images, cells, runs, seed) -> None:
    """survey.json, key.json and img/ into `tmp` (see the module docstring: nothing here
    may come from the seed)."""
    (tmp / "img").mkdir(parents=True)
    real, secret = bool(reals), secrets.SystemRandom()
    questions, key = (
        [],
        {
            "cells": [*cells, *([REAL] if real else [])],
            "options": {},
            "questions": {},
            "runs": {c: str(scored_checkpoint(d)) for c, d in runs.items()},
            "seed": seed,
        },
    )
    for i, photo in enumerate(chosen):
        qid, options = new_id(), []
        _write(tmp / "img" / f"{qid}.png", refs_img[i])
        for cell in secret.sample(list(images), len(images)):
            oid = new_id()
            _write(tmp / "img" / f"{oid}.png", images[cell][i])
            options.append({"id": oid, "image": f"img/{oid}.png"})
            key["options"][oid] = cell
        questions.append({"id": qid, "reference": f"img/{qid}.png", "options": options})
        key["questions"][qid] = {
            "photo": str(photo),
            "reference": str(refs[i]),
            **({"real": str(reals[i])} if real else {}),
        }
    (tmp / SURVEY).write_text(json.dumps({"instructions": INSTRUCTIONS, "questions": questions}, indent=1))
    (tmp / KEY).write_text(json.dumps(key, indent=1))


def _load(paths: list[Path], size: int):
    import torch

    from cartoonlab.data.folders import load_rgb
    from cartoonlab.data.transforms import eval_transform, to_tensor

    tf = eval_transform(size)
    return torch.stack([to_tensor(tf(image=load_rgb(p))["image"]) for p in paths])


def _translations(ckpt: Path, photos: list[Path], size: int):
    """uint8 HxWx3 translations of `photos` (the test transform), as the test scores them."""
    import torch

    from cartoonlab.inference import load_generator, translate_at

    net, x = load_generator(ckpt), _load(photos, size)
    with torch.no_grad():
        return torch.cat([translate_at(net, b, net.work_side) for b in x.split(16)])


def _write(path: Path, image) -> None:
    from cartoonlab.data.folders import write_image
    from cartoonlab.data.transforms import to_uint8_hwc

    write_image(path, to_uint8_hwc(image))
