"""`cartoonlab ablation show RUN`: every resolved setting of a run with the file that set it."""

from pathlib import Path

import pytest
import yaml

from cartoonlab.ablation.fairness import flatten
from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.show import DEFAULT, DERIVED, RUNNER, find_run, show
from cartoonlab.cli import main

EXP = Path(__file__).resolve().parents[2] / "experiments"


def settings_of(profile: str, name: str, tmp_path) -> tuple[list, dict]:
    matrix = Matrix.load(EXP / "ablation.yaml", profile=profile, tables=["T3", "T6"])
    files, settings = show(matrix, find_run(matrix, name, tmp_path, None))
    return files, {s.key: s for s in settings}


def test_each_setting_names_the_file_that_set_it(tmp_path):
    files, s = settings_of("standard", "improved-s1", tmp_path)
    assert [role for role, _ in files] == [
        "base",
        "recipe",
        "recipe",
        "profile",
        "cell",
        "imposed by the profile",
    ]
    assert s["model.class_path"].source == "cells/improved.yaml"  # over models/cartoongan.yaml's
    assert s["model.init_args.gan_mode"].source == "cells/improved.yaml"
    assert s["model.init_args.content_net.init_args.arch"].source == "profiles/offline_content.yaml"
    assert s["model.init_args.content_net.init_args.arch"].value == "efficientnet_lite0"
    assert s["model.init_args.n_epochs"].source == "profiles/quick/cartoongan.yaml"
    assert s["model.init_args.d_reduction"].source == "models/cartoongan_diya.yaml"
    assert s["seed_everything"].source == RUNNER and s["seed_everything"].value == 1
    assert s["trainer.max_epochs"].source == DERIVED and s["trainer.max_epochs"].value == 50
    # every file source is true: that file sets the key to the resolved value
    for setting in s.values():
        if setting.source not in (DEFAULT, RUNNER, DERIVED) and setting.key != "trainer.callbacks":
            given = flatten(yaml.safe_load((EXP / setting.source).read_text()))
            assert given[setting.key] == setting.value, setting


def test_a_swapped_class_keeps_the_settings_it_accepts(tmp_path):
    files, s = settings_of("standard", "cyclegan_unet", tmp_path)
    assert ("cell at this profile", "cells/at_32px/cyclegan_unet.yaml") in files
    assert s["model.init_args.generator.class_path"].value == "cartoonlab.nets.UnetGenerator"
    assert s["model.init_args.generator.init_args.num_downs"].source == "cells/at_32px/cyclegan_unet.yaml"
    # jsonargparse carries the profile's narrow ngf over to the U-Net (its default is 64);
    # the ResNet's n_blocks and upsample, which the U-Net lacks, are gone
    ngf = s["model.init_args.generator.init_args.ngf"]
    assert (ngf.value, ngf.source) == (16, "profiles/quick/cyclegan.yaml")
    assert "model.init_args.generator.init_args.n_blocks" not in s
    assert s["model.init_args.generator.init_args.dropout"].source == DEFAULT


def run_ok(args: list[str], capsys) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def test_show_on_the_command_line(capsys):
    out = run_ok(["ablation", "show", "cyclegan_unet-s2", "--profile", "standard"], capsys)
    assert "5. cell at this profile     cells/at_32px/cyclegan_unet.yaml" in out
    assert "model.init_args.generator.init_args.num_downs: 5" in out and "seed_everything: 2" in out
    assert "(default)" not in out, "defaults only with --defaults"
    assert "trainer.callbacks: [cartoonlab.checkpointing.LastCheckpoint]" in out
    assert "(default)" in run_ok(["ablation", "show", "cyclegan", "--defaults"], capsys)
    # a cell outside the profile's tables (quick runs T0 only) shows all the same
    assert "cells/at_32px/cyclegan_init.yaml" in run_ok(["ablation", "show", "cyclegan_init-s1"], capsys)


@pytest.mark.parametrize(
    "name, message",
    [
        ("cartoongan_resnet", "cartoongan_resnet is not run under profile 'standard': not testable offline"),
        ("cyclegan-s7", "no run 'cyclegan-s7' under profile 'standard'; its runs: cyclegan-s0"),
    ],
)
def test_an_unknown_or_untestable_run_is_named(name, message, capsys):
    assert main(["ablation", "show", name, "--profile", "standard"]) != 0
    assert message in capsys.readouterr().err
