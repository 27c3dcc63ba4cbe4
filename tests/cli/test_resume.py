"""Killed runs resume from their last finished epoch, checkpoints never run code, reused names
are refused unless --run.overwrite (then they start fresh)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from cartoonlab.cli import EXIT_USER, main

from .test_fit import fit_args, run_ok

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cartoonlab", *args]


def ckpt_epoch(path) -> int:
    try:  # written atomically: a reader sees the previous checkpoint or the new one, never half
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except FileNotFoundError:
        return -1


def test_sigkill_mid_training_resumes_from_last_finished_epoch(tmp_path):
    max_epochs = 50  # never reached: the kill lands after epoch 1
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "last.ckpt"
    log = (tmp_path / "fit.log").open("w")
    proc = subprocess.Popen(
        cli(*fit_args("cyclegan", tmp_path), f"--trainer.max_epochs={max_epochs}"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    deadline = time.time() + 180
    while proc.poll() is None and time.time() < deadline and ckpt_epoch(ckpt) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    killed_after = ckpt_epoch(ckpt)  # the last epoch whose checkpoint was written before the kill
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "fit.log").read_text()[-3000:]
    assert 1 <= killed_after < max_epochs - 1, "last.ckpt is written during training, not only at its end"
    assert not (run / "metrics.json").exists(), "SIGKILL: the fresh run never wrote its record"

    for png in (run / "samples").iterdir():  # the resumed run's samples are all that will be left
        png.unlink()
    run_ok([*fit_args("cyclegan", tmp_path), f"--trainer.max_epochs={killed_after + 3}", "--ckpt_path=last"])
    resumed = [killed_after + 1, killed_after + 2]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"epoch_{e:04d}.png" for e in resumed], (
        "the resumed run trains the epochs after the last finished one, and only those"
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs"] == killed_after + 3
    assert metrics["train_images"] == len(resumed) * 3 * 4, (
        "2 epochs x 3 batches x 4 images, not from epoch 0"
    )
    assert ckpt_epoch(ckpt) == killed_after + 2
    assert not list(run.rglob("*.tmp")), "a save cut by the kill leaves no temporary file behind"


class _RunsCode:
    """Unpickling this runs code: it creates `marker`."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.mark.parametrize("ckpt_path", ["last", "file"])
def test_malicious_checkpoint_is_refused_with_a_clear_error(ckpt_path, tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "run" / "checkpoints" / "last.ckpt"  # where `--ckpt_path last` looks
    evil.parent.mkdir(parents=True)
    torch.save({"epoch": 3, "global_step": 9, "state_dict": {}, "payload": _RunsCode(marker)}, evil)
    # torch < 2.6 unpickled everything when `weights_only` was not passed; this makes torch >= 2.6 do so too
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    arg = "last" if ckpt_path == "last" else str(evil)
    proc = subprocess.run(
        cli(*fit_args("cyclegan", tmp_path), f"--ckpt_path={arg}"),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert not marker.exists(), "the checkpoint's code ran"
    assert proc.returncode != 0
    assert f"cartoonlab: error: cannot load checkpoint {evil} safely" in proc.stderr, proc.stderr[-3000:]
    assert "Unsupported global" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_reused_run_name_is_refused_unless_overwrite_and_then_starts_a_fresh_record(tmp_path, capsys):
    run = tmp_path / "run"
    run_ok([*fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1"])
    old = json.loads((run / "metrics.json").read_text())
    # what `cartoonlab test` adds to the record (cheaper than running Inception here)
    old["metrics"]["test/fid_cartoon"] = 123.0
    old["fid_images"] = {"cartoon_reference": 8}
    (run / "metrics.json").write_text(json.dumps(old))
    kept = {
        p: p.read_bytes()
        for p in [run / "metrics.json", run / "metrics.csv", run / "checkpoints" / "last.ckpt"]
    }

    capsys.readouterr()
    assert main([*fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1"]) == EXIT_USER
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "already holds a trained run (last.ckpt)" in err[0] and "--ckpt_path last" in err[0]
    )
    assert {p: p.read_bytes() for p in kept} == kept, "a refused fit touches nothing"

    run_ok([*fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1", "--run.overwrite=true"])
    new = json.loads((run / "metrics.json").read_text())
    assert new["status"] == "finished" and new["epochs"] == 1
    assert "test/fid_cartoon" not in new["metrics"] and "fid_images" not in new, "old run's results kept"
    assert new["train_images"] == old["train_images"], "counts start again, not added to the old run's"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"], "not last-v1.ckpt"


def test_ckpt_path_last_without_last_ckpt_is_a_fresh_fit_and_spares_a_best_ckpt(tmp_path, capsys):
    ckpts = tmp_path / "run" / "checkpoints"
    # nothing to resume in a new run folder: a fresh start, as Lightning does
    run_ok([*fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1", "--ckpt_path=last"])
    assert (ckpts / "last.ckpt").is_file()
    (ckpts / "last.ckpt").rename(ckpts / "best.ckpt")  # e.g. last.ckpt deleted by hand
    best = (ckpts / "best.ckpt").read_bytes()

    capsys.readouterr()
    assert main([*fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1", "--ckpt_path=last"]) == EXIT_USER
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a trained run (best.ckpt)" in err[0], err
    assert f"resume it with --ckpt_path {ckpts / 'best.ckpt'}," in err[0], "not `last`: there is none"
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt"]
    assert (ckpts / "best.ckpt").read_bytes() == best, "a refused fit touches nothing"
