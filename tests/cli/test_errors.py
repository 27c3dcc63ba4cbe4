"""The CLI's error policy: one line naming what is wrong, a distinct exit code, the
traceback only on request; bad checkpoint files are named as such, never unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from cartoonlab.cli import EXIT_FAILED, EXIT_USER, TRACEBACK_ENV, main
from cartoonlab.nets.generators import ResnetGenerator

SPEC = {"class_path": "cartoonlab.nets.generators.ResnetGenerator", "init_args": {"ngf": 4, "n_blocks": 1}}


def _ckpt(path, spec=SPEC, weights=None):
    weights = weights if weights is not None else ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    torch.save(
        {
            "state_dict": {f"G.{k}": v for k, v in weights.items()},
            "cartoonlab": {"generator": spec, "work_side": 16},
        },
        path,
    )
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def _image(path):
    import cv2
    import numpy as np

    cv2.imwrite(str(path), np.full((16, 16, 3), 128, np.uint8))
    return path


def test_a_missing_file_is_one_line_with_its_name_and_the_traceback_on_request(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    code, err = _run(
        capsys,
        "cartoonize",
        "--ckpt",
        str(tmp_path / "nope.ckpt"),
        str(_image(tmp_path / "a.png")),
        str(tmp_path / "out.png"),
    )
    assert code == EXIT_USER
    assert err.count("\n") == 1 and err.startswith("cartoonlab: error: ") and "nope.ckpt" in err
    assert "Traceback" not in err

    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(FileNotFoundError):
        main(
            [
                "cartoonize",
                "--ckpt",
                str(tmp_path / "nope.ckpt"),
                str(tmp_path / "a.png"),
                str(tmp_path / "out.png"),
            ]
        )


def test_main_returns_every_exit_code_and_only_the_entry_points_exit(tmp_path, capsys):
    """`main` never raises SystemExit: argparse's --help and usage errors come back as codes
    too; `python -m cartoonlab` (like the console script) exits with what `main` returned."""
    import subprocess
    import sys

    assert main(["--help"]) == 0 and "usage: cartoonlab" in capsys.readouterr().out
    code, err = _run(capsys)
    assert code == EXIT_USER and "the following arguments are required: COMMAND" in err, err
    code, err = _run(capsys, "cartoonize", "a.png")
    assert code == EXIT_USER and "required: OUTPUT" in err, err
    code, err = _run(capsys, "data", "check", str(tmp_path), "--strict")
    assert code == 0, err
    (tmp_path / "bad.png").write_bytes(b"x")
    code, err = _run(capsys, "data", "check", str(tmp_path), "--strict")
    assert code == EXIT_FAILED, err
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cartoonlab",
            "cartoonize",
            "--ckpt",
            str(tmp_path / "no.ckpt"),
            "a.png",
            "b.png",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_USER and proc.stderr.startswith("cartoonlab: error: "), proc.stderr


@pytest.mark.parametrize(
    "kind", ["empty", "truncated", "text", "sentence", "yaml", "pickled_list", "foreign_dict", "evil"]
)
def test_files_that_are_not_checkpoints_are_named_and_never_run(tmp_path, capsys, kind, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    bad = tmp_path / f"{kind}.ckpt"
    good = _ckpt(tmp_path / "good.ckpt").read_bytes()
    marker = tmp_path / "pwned"
    content = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "text": b"hello\n",
        "sentence": b"this is not a checkpoint\n",
        "yaml": b"a: 1\n",
        "pickled_list": pickle.dumps([1, 2], protocol=4),
    }
    if kind == "foreign_dict":
        torch.save({"foo": 1}, bad)
    elif kind == "evil":

        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        torch.save({"state_dict": {}, "x": Evil()}, bad)
    else:
        bad.write_bytes(content[kind])
    code, err = _run(
        capsys, "cartoonize", "--ckpt", str(bad), str(_image(tmp_path / "a.png")), str(tmp_path / "out.png")
    )
    assert code == EXIT_USER and err.count("\n") == 1 and str(bad) in err, err
    assert ("is not a checkpoint" in err) or ("cannot load checkpoint" in err), err
    assert "weights_only=False" not in err
    if kind in ("text", "sentence", "yaml"):  # a text file is not called an unsafe pickle
        assert "is not a checkpoint (not a PyTorch file)" in err, err
    assert not marker.exists() and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "init_args, message",
    [
        ({"ngf": 1_000_000, "n_blocks": 9}, "claims ngf=1000000"),  # 10^13 parameters if built
        ({"ngf": 4, "n_blocks": 300_000}, "claims n_blocks=300000"),  # gigabytes of modules to describe
        ({"ngf": 8, "n_blocks": 2}, "does not match its weights"),  # plausible sizes, other weights
    ],
)
def test_a_generator_spec_that_does_not_match_its_weights_is_refused_before_allocating(
    tmp_path, capsys, init_args, message
):
    """A spec is checked against the weights present before anything is built: sizes no
    weights could hold are refused at once, others on the meta device (no memory)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ckpt = _ckpt(tmp_path / "huge.ckpt", spec={**SPEC, "init_args": init_args})
    code, err = _run(
        capsys, "cartoonize", "--ckpt", str(ckpt), str(_image(tmp_path / "a.png")), str(tmp_path / "o.png")
    )
    assert code == EXIT_USER and message in err and err.count("\n") == 1, err
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


def test_a_spec_may_build_only_a_generator(tmp_path, capsys):
    """A content network (which would download ImageNet weights) or any other cartoonlab
    network named by a model file's spec is refused, nothing fetched."""
    spec = {"class_path": "cartoonlab.nets.features.ContentExtractor", "init_args": {"arch": "vgg19"}}
    ckpt = _ckpt(tmp_path / "vgg.ckpt", spec=spec)
    code, err = _run(
        capsys, "cartoonize", "--ckpt", str(ckpt), str(_image(tmp_path / "a.png")), str(tmp_path / "o.png")
    )
    assert code == EXIT_USER and "not a generator" in err and "Downloading" not in err, err


def test_a_generator_spec_this_cartoonlab_cannot_build_names_the_checkpoint(tmp_path, capsys):
    bogus = {**SPEC, "init_args": {**SPEC["init_args"], "bogus": 1}}
    ckpt = _ckpt(tmp_path / "bogus.ckpt", spec=bogus)
    code, err = _run(
        capsys, "cartoonize", "--ckpt", str(ckpt), str(_image(tmp_path / "a.png")), str(tmp_path / "out.png")
    )
    assert code == EXIT_USER and err.count("\n") == 1, err
    assert str(ckpt) in err and "cannot be built" in err and "bogus" in err, err


def test_resuming_with_other_network_sizes_names_the_checkpoint_and_the_config(tmp_path, capsys):
    from tests.cli.test_fit import fit_args, run_ok

    run_ok([*fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1"])  # ngf 8
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    code, err = _run(
        capsys,
        *fit_args("cyclegan", tmp_path, name="other"),
        f"--ckpt_path={ckpt}",
        "--trainer.max_epochs=2",
        "--model.init_args.generator.init_args.ngf=16",
    )
    last = err.strip().splitlines()[-1]
    assert code == EXIT_USER and last.startswith("cartoonlab: error: checkpoint "), err
    assert str(ckpt) in last and "does not fit the configured CycleGAN" in last, last
    assert "(8, 3, 7, 7) in the checkpoint, (16, 3, 7, 7) configured" in last and "config.yaml" in last


def test_a_good_checkpoint_still_translates(tmp_path, capsys):
    code, err = _run(
        capsys,
        "cartoonize",
        "--ckpt",
        str(_ckpt(tmp_path / "good.ckpt")),
        str(_image(tmp_path / "a.png")),
        str(tmp_path / "out.png"),
    )
    assert code == 0 and (tmp_path / "out.png").is_file(), err


def test_bad_numbers_and_missing_folders_are_refused_where_they_enter(tmp_path, capsys):
    one = tmp_path / "one"
    one.mkdir()
    _image(one / "a.png")
    code, err = _run(capsys, "data", "check", str(tmp_path / "no_such_dir"), "--strict")
    assert code == EXIT_USER and "no_such_dir" in err and err.count("\n") == 1, err
    code, err = _run(capsys, "metrics", "fid", str(one), str(one))
    assert code == EXIT_USER and "at least 2 images" in err and str(one) in err, err
    for flag, value in (("--batch-size", "0"), ("--batch-size", "-1"), ("--size", "0")):
        code, err = _run(capsys, "metrics", "fid", str(one), str(one), flag, value)
        assert code == EXIT_USER and flag in err and value in err, err
    code, err = _run(capsys, "data", "synth", str(tmp_path / "ds"), "--n", "-5")
    assert code == EXIT_USER and "--n" in err and not (tmp_path / "ds").exists(), err


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--model.init_args.pool_size=-1", "pool_size must be at least 0"),
        ("--data.epoch_length=-3", "data.epoch_length must be at least 1, got -3"),
        ("--data.image_size=30", "data.image_size=30 is not a multiple of the generator's stride 4"),
        ("--data.image_size=0", "data.image_size must be at least 8, got 0"),
        ("--data.image_size=-32", "data.image_size must be at least 8, got -32"),
        ("--run.name=../../escape", "run.name '../../escape' must be one folder name"),
        ("--model.init_args.optimizer_g.init_args.lr=0.0", "optimizer_g.init_args.lr must be greater than 0"),
    ],
)
def test_fit_refuses_bad_values_in_one_line(tmp_path, capsys, monkeypatch, arg, message):
    from tests.cli.test_fit import fit_args

    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    code, err = _run(capsys, *fit_args("cyclegan", tmp_path), arg)
    assert code == EXIT_USER and message in err, err
    assert err.strip().splitlines()[-1].startswith("cartoonlab: error: ")


@pytest.mark.parametrize("kind", ["pickled_list", "foreign_dict", "empty", "sentence"])
def test_a_ckpt_path_that_is_not_a_lightning_checkpoint_is_named(tmp_path, capsys, monkeypatch, kind):
    from tests.cli.test_fit import fit_args

    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    bad = tmp_path / f"{kind}.ckpt"
    if kind == "pickled_list":
        torch.save([1, 2], bad)
    elif kind == "foreign_dict":
        torch.save({"state_dict": {}, "epoch": 3}, bad)
    else:
        bad.write_bytes(b"" if kind == "empty" else b"this is not a checkpoint\n")
    code, err = _run(capsys, "test", *fit_args("cyclegan", tmp_path)[1:], f"--ckpt_path={bad}")
    assert code == EXIT_USER and str(bad) in err and "is not a checkpoint" in err, err
    assert err.strip().splitlines()[-1].startswith("cartoonlab: error: ")


@pytest.mark.parametrize(
    "text, message",
    [
        ("data: 5\n", "`data` must be a mapping of its settings, got 5"),
        ("", "is empty"),
        ("trainer: [max_epochs: 2\n", "is not valid YAML"),
        ("- 1\n- 2\n", "must be a mapping of sections"),
    ],
)
def test_a_broken_config_file_is_named_with_its_key(tmp_path, capsys, monkeypatch, text, message):
    from tests.cli.test_fit import fit_args

    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(text)
    code, err = _run(capsys, *fit_args("cyclegan", tmp_path), "--config", str(cfg))
    assert code == EXIT_USER and str(cfg) in err and message in err, err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("seeds", ["a b", "-1", "0 1.5"])
def test_ablation_seeds_that_are_not_seeds_are_named(capsys, seeds):
    code, err = _run(capsys, "ablation", "run", "--dry-run", "--seeds", seeds)
    assert code == EXIT_USER and "--seeds" in err and err.count("\n") == 1, err


def test_a_generator_with_nan_weights_is_refused(tmp_path, capsys):
    weights = ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    first = next(k for k, v in weights.items() if v.is_floating_point())
    weights[first] = torch.full_like(weights[first], float("nan"))
    code, err = _run(
        capsys,
        "cartoonize",
        "--ckpt",
        str(_ckpt(tmp_path / "nan.ckpt", weights=weights)),
        str(_image(tmp_path / "a.png")),
        str(tmp_path / "out.png"),
    )
    assert code == EXIT_USER and "not finite" in err and first in err, err
    assert not (tmp_path / "out.png").exists()


def test_ctrl_c_during_fit_exits_130_and_records_the_interruption(tmp_path, capsys, monkeypatch):
    import json

    from cartoonlab.cli import EXIT_INTERRUPTED
    from cartoonlab.systems import CycleGAN
    from tests.cli.test_fit import fit_args

    def ctrl_c(self, batch, batch_idx):
        raise KeyboardInterrupt

    monkeypatch.setattr(CycleGAN, "training_step", ctrl_c)
    code, err = _run(capsys, *fit_args("cyclegan", tmp_path))
    assert code == EXIT_INTERRUPTED and "cartoonlab: interrupted" in err, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "interrupted"


def test_a_checkpoint_of_another_system_is_named_in_one_line(tmp_path, capsys, monkeypatch):
    from tests.cli.test_fit import fit_args

    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    other = tmp_path / "cartoongan.ckpt"
    torch.save(
        {
            "pytorch-lightning_version": "2.5.0",
            "state_dict": {},
            "epoch": 1,
            "hyper_parameters": {"_class_path": "cartoonlab.systems.CartoonGAN"},
        },
        other,
    )
    code, err = _run(capsys, "test", *fit_args("cyclegan", tmp_path)[1:], f"--ckpt_path={other}")
    assert code == EXIT_USER and err.count("\n") == 1, err
    assert "is a CartoonGAN checkpoint but the config builds CycleGAN" in err and str(other) in err


def test_sigterm_during_fit_exits_130_and_records_an_interruption_not_a_failure(tmp_path, capsys):
    import json
    import os
    import signal

    from cartoonlab.cli import EXIT_INTERRUPTED
    from cartoonlab.systems import CycleGAN
    from tests.cli.test_fit import fit_args

    step = CycleGAN.training_step

    def terminated(self, batch, batch_idx):  # `kill PID`: Lightning's handler stops at the next batch
        if self.current_epoch == 1:  # after epoch 0's last.ckpt
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, batch, batch_idx)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CycleGAN, "training_step", terminated)
        code, err = _run(capsys, *fit_args("cyclegan", tmp_path))
    assert code == EXIT_INTERRUPTED and "cartoonlab: interrupted" in err, err
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["error"] == "terminated (SIGTERM)", record
    # resumed and finished: the interruption is history, not an error of the finished run
    code, err = _run(capsys, *fit_args("cyclegan", tmp_path), "--ckpt_path=last")
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert code == 0 and record["status"] == "finished" and "error" not in record, record


def test_a_checkpoint_zip_bomb_is_refused_before_anything_inflates(tmp_path):
    """One deflated 512 MiB entry in a 0.5 MB .ckpt: refused from the zip's central directory
    (torch.save stores entries uncompressed), with the process's peak memory that of a
    refusal, not of the inflated tensor."""
    import subprocess
    import sys
    import zipfile

    good = tmp_path / "good.pt"
    torch.save({"state_dict": {"G.w": torch.zeros(4)}}, good)
    bomb = tmp_path / "bomb.ckpt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as dst:
        with dst.open("good/data/huge", "w", force_zip64=True) as f:
            zeros = bytes(1 << 20)
            for _ in range(512):
                f.write(zeros)
    assert bomb.stat().st_size < 2 << 20

    def cartoonize(ckpt: Path) -> tuple[subprocess.CompletedProcess, int]:
        script = (
            "import resource, sys\n"
            "from cartoonlab.cli import main\n"
            f"code = main(['cartoonize', '--ckpt', {str(ckpt)!r}, 'in.png', 'out.png'])\n"
            "print('peak_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
            "sys.exit(code)\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        return done, int(done.stdout.split("peak_mb")[-1])

    done, peak = cartoonize(bomb)
    assert done.returncode == 2, done.stderr[-400:]
    assert "compressed entr" in done.stderr and "inflating to 536870912" in done.stderr
    _, baseline = cartoonize(tmp_path / "missing.ckpt")  # the same command, refused at once
    assert peak - baseline < 64, f"{peak} MB against {baseline} MB: the 512 MiB entry was inflated"


def test_missing_imagenet_weights_are_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    """A recipe whose content network needs ImageNet weights that are neither cached nor
    downloadable: one line (not jsonargparse's Union error around it, not cut off) naming
    the URL, where to put the file and the offline alternative."""
    import urllib.error

    import torchvision.models._api as api

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    exp = Path(__file__).resolve().parents[2] / "experiments"
    configs = [
        a
        for f in ("base", "data/synthetic", "models/cartoongan")
        for a in ("--config", str(exp / f"{f}.yaml"))
    ]
    code, err = _run(capsys, "fit", *configs, f"--run.root={tmp_path}", "--run.wandb=disabled")
    errors = [line for line in err.splitlines() if line.startswith("cartoonlab: error:")]
    assert code == EXIT_USER and len(errors) == 1, err
    assert "Union" not in err and "vgg19-dcbb9e9d.pth" in err and "offline_content.yaml" in err
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in err


def test_a_full_disk_names_the_checkpoint_and_the_free_space(tmp_path, capsys, monkeypatch):
    """torch.save on a full disk says only "[enforce fail at inline_container.cc:672]": the
    error names the checkpoint, the disk and its free space, in one line."""
    import collections
    import shutil

    import torch

    from tests.cli.test_fit import fit_args

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    code, err = _run(capsys, *fit_args("cyclegan", tmp_path), "--trainer.max_epochs=1")
    assert code == EXIT_USER and err.count("cartoonlab: error:") == 1, err
    assert "no space left for a checkpoint" in err and "1 MB free" in err and "last.ckpt" in err, err
