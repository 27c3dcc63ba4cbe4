"""`cartoonize` translates at the scale the generator was trained at."""

import pytest
import torch
from torch import nn

from cartoonlab.inference import translate_at


class Recorder(nn.Module):
    """An identity 'generator' that records the sizes it was run at."""

    stride = 4

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        return x


def test_translates_at_the_training_short_side_and_returns_the_input_size():
    net, x = Recorder(), torch.rand(1, 3, 128, 192) * 2 - 1
    y = translate_at(net, x, work_side=32)
    assert net.seen == [(32, 48)], "G runs with the short side at the training size"
    assert y.shape == x.shape, "the output has the input's size"
    smooth = torch.linspace(-1, 1, 128).view(1, 1, 128, 1).expand(1, 3, 128, 192)
    assert (translate_at(net, smooth, 32) - smooth).abs().mean() < 0.02, (
        "resize there and back keeps a smooth image"
    )


def test_native_and_already_at_scale_run_unresized():
    net, x = Recorder(), torch.rand(1, 3, 37, 50) * 2 - 1
    assert torch.equal(translate_at(net, x, None), x)
    assert net.seen == [(40, 52)], "native: only padded to the stride"
    net.seen.clear()
    translate_at(net, torch.zeros(1, 3, 32, 64), 32)
    assert net.seen == [(32, 64)]


def _images(folder, names):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (20, 12), (40 * i, 100, 200)).save(folder / name)


def test_folder_outputs_never_overwrite_or_collide(tmp_path):
    import pytest

    from cartoonlab.inference import translate_path

    src = tmp_path / "in"
    _images(src, ["a.png", "b.jpg"])
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    for dst in (src, src / "out"):
        with pytest.raises(ValueError, match="input folder"):
            translate_path(Recorder(), src, dst, work_side=None)
    with pytest.raises(ValueError, match="is the input file"):
        translate_path(Recorder(), src / "a.png", src / "a.png", work_side=None)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before, "no input touched"
    _images(src, ["c.png", "c.tif"])
    with pytest.raises(ValueError, match="both be written to"):
        translate_path(Recorder(), src, tmp_path / "out", work_side=None)
    assert not (tmp_path / "out").exists(), "refused before writing anything"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        translate_path(Recorder(), tmp_path / "empty", tmp_path / "o2", work_side=None)


def test_unreadable_inputs_are_skipped_and_named_and_writes_are_checked(tmp_path):
    import os

    import pytest

    from cartoonlab.inference import translate_path

    src = tmp_path / "in"
    _images(src, ["a.png", "b.png"])
    (src / "broken.png").write_bytes((src / "a.png").read_bytes()[:30])
    done = translate_path(Recorder(), src, tmp_path / "out", work_side=None)
    assert sorted(p.name for p in done.written) == ["a.png", "b.png"]
    assert list(done.skipped) == [src / "broken.png"]
    # an existing folder whose name has a dot is a folder, not a file name
    (tmp_path / "out.d").mkdir()
    assert translate_path(Recorder(), src / "a.png", tmp_path / "out.d", work_side=None).written == [
        tmp_path / "out.d" / "a.png"
    ]
    if os.geteuid() != 0:  # root writes anywhere: the permission case only means something for users
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(OSError):
            translate_path(Recorder(), src / "a.png", ro / "x.png", work_side=None)
    with pytest.raises(OSError, match="cannot encode"):
        translate_path(Recorder(), src / "a.png", tmp_path / "x.unknownext", work_side=None)


def test_a_file_name_that_is_not_utf8_is_translated_not_a_crash(tmp_path):
    import os

    from cartoonlab.inference import translate_path

    src = tmp_path / "in"
    _images(src, ["a.png"])
    odd = os.fsdecode(os.fsencode(str(src)) + b"/caf\xe9.png")  # surrogate-escaped, as os.listdir gives it
    os.rename(src / "a.png", odd)
    done = translate_path(Recorder(), src, tmp_path / "out", work_side=None)
    assert [os.fsencode(p.name) for p in done.written] == [b"caf\xe9.png"] and not done.skipped


def test_tiny_images_translate_and_huge_ones_are_refused_with_a_size_that_fits(tmp_path, monkeypatch):
    import cv2
    import numpy as np

    from cartoonlab import inference
    from cartoonlab.nets.generators import ResnetGenerator

    net = ResnetGenerator(ngf=4, n_blocks=1).eval()  # InstanceNorm at the bottleneck
    for side in (1, 3):
        assert inference.translate(net, torch.zeros(1, 3, side, side)).shape == (1, 3, side, side)

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "big.png"), np.zeros((300, 400, 3), np.uint8))
    cv2.imwrite(str(src / "small.png"), np.zeros((30, 40, 3), np.uint8))
    monkeypatch.setattr(inference, "available_memory", lambda: 30 * 40 * 400)  # bytes
    for tile in (None, 64):  # whole, and in tiles (less memory, so a larger size fits)
        done = inference.translate_path(net, src, tmp_path / "out", work_side=None, tile=tile, overlap=16)
        assert [p.name for p in done.written] == ["small.png"]
        why = done.skipped[src / "big.png"]
        assert "400x300 would need" in why and "downscale it to about" in why
        w, h = map(int, why.rsplit("about ", 1)[1].split()[0].split("x"))
        assert inference.memory_needed(net, h, w, None, tile) <= 0.8 * 30 * 40 * 400
        assert inference.memory_needed(net, h + 2, w + 2, None, tile) > 0.8 * 30 * 40 * 400


def test_cartoonize_tiles_large_images_and_downscales_with_max_side(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from cartoonlab.cli import EXIT_USER, main
    from cartoonlab.nets.generators import ResnetGenerator

    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1)
    ckpt = tmp_path / "g.ckpt"
    torch.save(
        {
            "state_dict": {f"G.{k}": v for k, v in net.state_dict().items()},
            "cartoonlab": {
                "generator": {
                    "class_path": "cartoonlab.nets.generators.ResnetGenerator",
                    "init_args": {"ngf": 4, "n_blocks": 1},
                },
                "work_side": 16,
            },
        },
        ckpt,
    )
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 250, 3), np.uint8)).save(tmp_path / "wide.png")

    def cartoonize(*args):
        code = main(["cartoonize", "--ckpt", str(ckpt), "--native", *args])
        return code, capsys.readouterr().err

    outs = {}
    for tile in ("0", "64"):
        code, err = cartoonize(
            "--tile", tile, "--overlap", "16", str(tmp_path / "wide.png"), str(tmp_path / tile)
        )
        assert code == 0, err
        outs[tile] = np.asarray(Image.open(tmp_path / tile / "wide.png"), np.float32)
        assert outs[tile].shape == (90, 250, 3), "output at the input's size"
    assert np.abs(outs["0"] - outs["64"]).mean() < 8, "tiled is close to untiled (0-255 scale)"
    code, err = cartoonize("--max-side", "100", str(tmp_path / "wide.png"), str(tmp_path / "small"))
    assert code == 0 and Image.open(tmp_path / "small" / "wide.png").size == (100, 36)
    code, err = cartoonize("--tile", "10", str(tmp_path / "wide.png"), str(tmp_path / "x"))
    assert code != 0 and "at least 32 px" in err
    code, err = cartoonize("--tile", "64", "--overlap", "32", str(tmp_path / "wide.png"), str(tmp_path / "x"))
    assert code == EXIT_USER and "more than twice the overlap" in err.strip().splitlines()[-1]


def test_alpha_is_kept_and_folder_formats_follow_ext(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from cartoonlab.cli import main
    from cartoonlab.nets.generators import ResnetGenerator

    net = ResnetGenerator(ngf=4, n_blocks=1)
    ckpt = tmp_path / "g.ckpt"
    torch.save(
        {
            "state_dict": {f"G.{k}": v for k, v in net.state_dict().items()},
            "cartoonlab": {"generator": net.config, "work_side": 16},
        },
        ckpt,
    )
    src = tmp_path / "in"
    src.mkdir()
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3], rgba[:, 15:, 3] = 120, 255  # left half transparent
    Image.fromarray(rgba, "RGBA").save(src / "logo.png")
    Image.new("RGB", (30, 20), (10, 200, 30)).save(src / "photo.jpg")
    for ext, flag in (("png", "--ckpt"), ("jpg", "--ckpt_path")):  # `fit`'s spelling works too
        code = main(["cartoonize", flag, str(ckpt), "--ext", ext, str(src), str(tmp_path / ext)])
        assert code == 0, capsys.readouterr().err
        assert sorted(p.name for p in (tmp_path / ext).iterdir()) == [f"logo.{ext}", f"photo.{ext}"]
    out = Image.open(tmp_path / "png" / "logo.png")
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], rgba[..., 3]), "alpha written back"
    assert Image.open(tmp_path / "jpg" / "logo.jpg").mode == "RGB", "no alpha in JPEG"


def test_same_size_images_are_batched_and_outputs_equal_one_at_a_time(tmp_path):
    import numpy as np
    from PIL import Image

    from cartoonlab.inference import translate_path
    from cartoonlab.nets.generators import ResnetGenerator

    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1).eval()
    sizes = []
    net.register_forward_pre_hook(lambda m, args: sizes.append(tuple(args[0].shape)))
    src, rng = tmp_path / "in", np.random.default_rng(0)
    src.mkdir()
    for name, (w, h) in zip("abcdef", [(24, 16)] * 3 + [(16, 24)] + [(24, 16)] * 2):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / f"{name}.png")
    (src / "c2.png").write_bytes(b"not an image")  # skipped, does not break the batch
    batched = translate_path(net, src, tmp_path / "batched", work_side=None, tile=None, batch_size=2)
    assert [s[0] for s in sizes] == [2, 1, 1, 2], "runs of one size, at most batch_size, in file order"
    single = translate_path(net, src, tmp_path / "single", work_side=None, tile=None, batch_size=1)
    assert len(batched.written) == len(single.written) == 6 and list(batched.skipped) == list(single.skipped)
    for out in batched.written:
        a = np.asarray(Image.open(out), np.int16)
        b = np.asarray(Image.open(tmp_path / "single" / out.name), np.int16)
        assert np.abs(a - b).max() <= 1, f"{out.name}: batching changed the output"
    sizes.clear()
    translate_path(net, src, tmp_path / "tiled", work_side=None, tile=32, overlap=8, batch_size=8)
    assert [s[0] for s in sizes] == [2, 1, 1, 2], (
        "with tiles, at most one tile's pixels per batch (2 x 24 x 16)"
    )


@pytest.mark.parametrize("key", ["work_side", "train_size"])
def test_the_training_scale_is_read_from_new_and_old_checkpoints(key, tmp_path):
    """Checkpoints record the short side of whole training images as `work_side`; those
    written before the rename call it `train_size`, and still load with their scale."""
    from cartoonlab.inference import load_generator
    from cartoonlab.nets.generators import ResnetGenerator

    net = ResnetGenerator(ngf=4, n_blocks=1)
    ckpt = tmp_path / "g.ckpt"
    state = {f"G.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "cartoonlab": {"generator": net.config, key: 36}}, ckpt)
    assert load_generator(ckpt).work_side == 36
