"""One bad file in one run never blocks the matrix; two runners never share a folder;
a killed data command leaves no worker behind."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.runner import lock_results
from cartoonlab.cli import EXIT_USER, main
from cartoonlab.runs import PROGRESS, is_done, read_record

from .tiny_matrix import write_tiny_matrix

GOOD = {"status": "finished", "epochs": 1, "train_seconds": 2.0, "metrics": {"test/fid_cartoon": 300.0}}
BAD = {
    "truncated": b'{"status": "fini',
    "empty": b"",
    "binary": b"\xff\xfe\x00garbage",
    "list": b"[1, 2]",
    "metrics_string": json.dumps({**GOOD, "metrics": "oops"}).encode(),
    "fid_string": json.dumps({**GOOD, "metrics": {"test/fid_cartoon": "abc"}}).encode(),
    "seconds_string": json.dumps({**GOOD, "train_seconds": "x"}).encode(),
    "status_number": json.dumps({**GOOD, "status": 5}).encode(),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_metrics_json_reads_as_corrupt_naming_the_file(tmp_path, kind):
    path = tmp_path / "metrics.json"
    path.write_bytes(BAD[kind])
    record = read_record(path)
    assert record["status"] == "corrupt" and str(path) in record["error"]
    assert not is_done(record)
    path.write_text(json.dumps(GOOD))
    assert is_done(read_record(path)) and read_record(tmp_path / "none.json") == {}


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_status_and_report_mark_the_bad_run_and_go_on(tmp_path, capsys):
    path = write_tiny_matrix(tmp_path)
    out = tmp_path / "out"
    runs = {r.cell: r for r in Matrix.load(path, "tiny").runs(out)}
    for cell, content in (
        ("cyclegan", json.dumps(GOOD).encode()),
        ("cyclegan_no_pool", BAD["truncated"]),
        ("broken", BAD["list"]),
    ):
        runs[cell].dir.mkdir(parents=True)
        (runs[cell].dir / "metrics.json").write_bytes(content)
        (runs[cell].dir / "config.yaml").write_text("" if cell == "cyclegan" else "data: {bogus: 1}\n")
    (runs["cyclegan"].dir / "checkpoints").mkdir()
    (runs["cyclegan"].dir / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    args = ("--matrix", str(path), "--profile", "tiny", "--out", str(out))

    code, stdout, _ = _run(capsys, "ablation", "status", *args)
    assert code == 0
    assert "1 finished" in stdout and "2 corrupt" in stdout
    assert str(runs["cyclegan_no_pool"].dir / "metrics.json") in stdout

    code, stdout, stderr = _run(capsys, "ablation", "report", *args)
    assert code == 0, stderr
    rows = (out / "ablation.csv").read_text()
    assert "cyclegan_no_pool,0,corrupt" in rows and "300.0" in rows
    assert "config.yaml" in stderr, "the broken configs are named, not fatal"


def test_status_shows_where_each_run_stands(tmp_path, capsys):
    """A run training now (fresh progress file) shows its epoch and ETA; one whose progress
    is old (killed with no record) shows the epoch it stopped in; the rest are not started."""
    path = write_tiny_matrix(tmp_path)
    out = tmp_path / "out"
    runs = {r.cell: r for r in Matrix.load(path, "tiny").runs(out)}
    progress = {
        "epoch": 3,
        "epochs": 8,
        "batch": 2,
        "batches": 4,
        "percent": 31.2,
        "elapsed_s": 60.0,
        "eta_s": 132.0,
    }
    for cell in ("cyclegan", "broken"):
        runs[cell].dir.mkdir(parents=True)
        (runs[cell].dir / PROGRESS).write_text(json.dumps(progress))
    old = time.time() - 3600
    os.utime(runs["broken"].dir / PROGRESS, (old, old))
    code, stdout, _ = _run(
        capsys, "ablation", "status", "--matrix", str(path), "--profile", "tiny", "--out", str(out)
    )
    assert code == 0
    assert "training (epoch 3/8, batch 2/4 (31%), 1.0 min elapsed, ETA 2.2 min)" in stdout
    assert "stopped (in epoch 3/8)" in stdout
    assert "3 runs: 1 not started, 1 stopped, 1 training" in stdout


def test_a_second_runner_on_one_folder_is_refused(tmp_path, capsys):
    path = write_tiny_matrix(tmp_path)
    lock = lock_results(tmp_path / "out")
    try:
        code, _, err = _run(
            capsys,
            "ablation",
            "run",
            "--matrix",
            str(path),
            "--profile",
            "tiny",
            "--out",
            str(tmp_path / "out"),
        )
        assert code == EXIT_USER and "in use by another `ablation run` (pid" in err, err
        assert not (tmp_path / "out" / "runs").exists(), "nothing started"
    finally:
        lock.close()
    lock_results(tmp_path / "out").close()  # released: a later runner may go on


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_data_synth_leaves_no_worker_behind(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cartoonlab",
            "data",
            "synth",
            str(tmp_path / "ds"),
            "--n",
            "20000",
            "--size",
            "64",
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while len(_children(proc.pid)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the pool should have started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    alive = [
        w
        for w in workers
        if Path(f"/proc/{w}").exists()
        and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    ]
    assert not alive, f"orphaned workers {alive}"


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda s: s.pop("cells"), "`cells`"),
        (lambda s: s["cells"]["cyclegan"].update(recipe="nope"), "cells.cyclegan.recipe"),
        (lambda s: s["tables"]["T6"].update(colour="red"), "tables.T6"),
        (lambda s: s["profiles"]["tiny"].update(seeds=0), "profiles.tiny.seeds"),
        # the composition keys before 2026-12-08: refused, not silently ignored
        (
            lambda s: s["profiles"]["tiny"].update(after=["tiny.yaml"]),
            "profiles.tiny` has unknown keys ['after']",
        ),
        (
            lambda s: s["cells"]["cyclegan"].update(profile_args={}),
            "cells.cyclegan` has unknown keys ['profile_args']",
        ),
        (lambda s: s["cells"].update({"../../escaped": s["cells"]["cyclegan"]}), "cell name '../../escaped'"),
    ],
)
def test_matrix_file_errors_name_the_key(tmp_path, edit, key):
    import yaml

    path = write_tiny_matrix(tmp_path)
    spec = yaml.safe_load(path.read_text())
    edit(spec)
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match=re.escape(key)):
        Matrix.load(path, "tiny")
    path.write_text("just a string\n")
    with pytest.raises(ValueError, match="top level"):
        Matrix.load(path, "tiny")


def test_a_data_folder_with_commas_and_brackets_is_one_tag(tmp_path, capsys):
    data = tmp_path / "photos [v2], small"
    run = Matrix.load(write_tiny_matrix(tmp_path), "tiny").runs(tmp_path / "out", data=str(data))[0]
    code = main([*run.args, "--print_config"])
    assert code == 0
    assert "- photos [v2], small" in capsys.readouterr().out


def test_a_resumed_run_with_a_corrupt_record_starts_a_new_one(tmp_path):
    from cartoonlab.runs import RunRecorder

    (tmp_path / "metrics.json").write_bytes(BAD["truncated"])
    with pytest.warns(UserWarning, match="starting a new record"):
        assert RunRecorder(tmp_path).read() == {}


def test_a_non_finite_score_is_flagged_not_tabulated(tmp_path):
    from cartoonlab.ablation.report import rows, tables_markdown

    m = Matrix.load(write_tiny_matrix(tmp_path), "tiny")
    runs = {r.cell: r for r in m.runs(tmp_path / "out")}
    for cell, fid in (("cyclegan", 300.0), ("cyclegan_no_pool", float("nan"))):
        runs[cell].dir.mkdir(parents=True)
        (runs[cell].dir / "metrics.json").write_text(
            json.dumps({**GOOD, "metrics": {"test/fid_cartoon": fid}})
        )
    table = rows(list(runs.values()))
    bad = next(r for r in table if r["cell"] == "cyclegan_no_pool")
    assert bad["status"] == "non-finite" and "test/fid_cartoon=nan" in bad["error"]
    md = tables_markdown(m, table)
    assert "nan" not in md.lower().replace("non-finite", "")
    assert "`cyclegan_no_pool` (1 run(s) non-finite)" in md


def test_the_report_never_generates_a_dataset_a_run_config_names(tmp_path, monkeypatch, capsys):
    from cartoonlab.ablation.identity import datamodule_of, identity_row, reference_photos

    monkeypatch.setenv("CARTOONLAB_CACHE", str(tmp_path / "cache"))
    runs = Matrix.load(write_tiny_matrix(tmp_path), "tiny").runs(tmp_path / "out")
    runs[0].dir.mkdir(parents=True)  # a planted config: a synthetic dataset never trained on
    (runs[0].dir / "config.yaml").write_text("data: {synthetic_n: 300, image_size: 32}\n")
    dm = datamodule_of(runs[:1])
    assert dm is None and reference_photos(dm) == ([], None, 0) and identity_row(dm) is None
    assert "v2-n300-s128-seed0 is not in the cache" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists(), "the report reads data, it never writes any"
