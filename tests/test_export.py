"""`cartoonlab export`: each format's output equals the checkpoint's generator, and cartoonize reads it."""

import numpy as np
import pytest
import torch
from PIL import Image

from cartoonlab.cli import EXIT_USER, main
from cartoonlab.cli.export import FORMATS as CLI_FORMATS
from cartoonlab.export import FORMATS, export
from cartoonlab.inference import load_generator, translate

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.fixture(
    params=[
        ("ResnetGenerator", {"ngf": 4, "n_blocks": 1}),  # InstanceNorm (CycleGAN)
        ("CartoonGANGenerator", {"ngf": 4, "n_blocks": 1}),
    ]
)  # BatchNorm (paper)
def ckpt(request, tmp_path):
    from cartoonlab.nets import generators

    name, args = request.param
    torch.manual_seed(0)
    net = getattr(generators, name)(**args)
    for m in net.modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "run.ckpt"
    torch.save(
        {
            "state_dict": {f"G.{k}": v for k, v in net.state_dict().items()},
            "cartoonlab": {"generator": net.config, "work_side": 16},
        },
        path,
    )
    return path


def test_cli_lists_the_formats_export_writes():
    assert CLI_FORMATS == tuple(FORMATS)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_exported_generator_equals_the_checkpoint_at_any_size(ckpt, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    ref = load_generator(ckpt)
    out = export(ckpt, fmt, tmp_path)
    assert out.name == "run" + FORMATS[fmt] and not list(tmp_path.glob(".*.tmp"))
    plain = tmp_path / "plain"
    plain.write_text("")
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777, "every format: a plain file's mode"
    net = load_generator(out, trust_code=True)  # a TorchScript export of our own
    assert net.work_side == 16
    torch.manual_seed(1)
    for shape in [(1, 3, 32, 32), (2, 3, 37, 50), (1, 3, 24, 61)]:  # dynamic batch, height and width
        x = torch.rand(*shape) * 2 - 1
        assert torch.allclose(translate(net, x), translate(ref, x).clamp(-1, 1), atol=1e-4), (fmt, shape)


def test_cartoonize_reads_exported_files_and_export_refuses_bad_outputs(ckpt, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 52, 3), np.uint8)).save(tmp_path / "a.png")
    outs = {}
    for fmt in ("ckpt", *FORMATS):
        model = ckpt
        if fmt != "ckpt":
            code = main(["export", "--ckpt", str(ckpt), "--format", fmt, str(tmp_path / f"g{FORMATS[fmt]}")])
            assert code == 0, capsys.readouterr().err
            model = tmp_path / f"g{FORMATS[fmt]}"
        trust = ["--trust-torchscript"] if fmt == "torchscript" else []
        code = main(
            [
                "cartoonize",
                "--ckpt",
                str(model),
                *trust,
                str(tmp_path / "a.png"),
                str(tmp_path / f"{fmt}.png"),
            ]
        )
        assert code == 0, capsys.readouterr().err
        outs[fmt] = np.asarray(Image.open(tmp_path / f"{fmt}.png"), np.int16)
    for fmt in FORMATS:
        assert np.abs(outs[fmt] - outs["ckpt"]).max() <= 1, fmt  # uint8 rounding
    code = main(["export", "--ckpt", str(ckpt), "--format", "torchscript", str(tmp_path / "g.onnx")])
    assert code == EXIT_USER and "must end in .pt" in capsys.readouterr().err
    for suffix, why, trust in [
        (".onnx", "is not an ONNX model", []),
        (".pt", "is not a TorchScript archive", ["--trust-torchscript"]),
        (".safetensors", "is not a checkpoint", []),
    ]:  # files that are not exports
        fake = (tmp_path / "fake").with_suffix(suffix)
        fake.write_bytes(b"not a model")
        args = ["cartoonize", "--ckpt", str(fake), *trust, str(tmp_path / "a.png"), str(tmp_path / "x.png")]
        code = main(args)
        assert code == EXIT_USER and why in capsys.readouterr().err.strip().splitlines()[-1]


def planted_archive(path, marker):
    """A TorchScript archive with cartoonlab's metadata whose `forward` writes `marker`
    (torch.from_file creates and maps it writable): the probe's payload."""
    import json

    code = f"""
import torch
from torch import nn

class Evil(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.zeros(1)

    def forward(self, x):
        t = torch.from_file({str(marker)!r}, shared=True, size=6, dtype=torch.uint8)
        t.copy_(torch.tensor([112, 119, 110, 101, 100, 10], dtype=torch.uint8))
        return x + t.sum().float() * 0.0

"""
    module_file = path.parent / "evil_module.py"
    module_file.write_text(code)
    import importlib.util

    spec = importlib.util.spec_from_file_location("evil_module", module_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    meta = {"generator": {"class_path": "cartoonlab.nets.ResnetGenerator", "init_args": {}}, "work_side": 32}
    torch.jit.script(mod.Evil()).save(str(path), _extra_files={"cartoonlab.json": json.dumps(meta)})
    return path


def test_a_torchscript_file_runs_nothing_without_the_opt_in(tmp_path, capsys):
    marker = tmp_path / "markers" / "pwned"
    marker.parent.mkdir()
    evil = planted_archive(tmp_path / "evil.pt", marker)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    code = main(["cartoonize", "--ckpt", str(evil), str(tmp_path / "a.png"), str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USER and "loading it runs its author's code" in err[-1] and len(err) == 1
    assert "--trust-torchscript" in err[-1] and ".safetensors" in err[-1], "names the safe alternatives"
    assert main(["export", "--ckpt", str(evil), "--format", "onnx", str(tmp_path / "x.onnx")]) == EXIT_USER
    with pytest.raises(ValueError, match="TorchScript archive: a program"):
        load_generator(evil)
    assert not marker.exists() and not (tmp_path / "o.png").exists()
    # the payload is real: with the opt-in, running the file writes the marker
    load_generator(evil, trust_code=True)(torch.zeros(1, 3, 32, 32))
    assert marker.read_bytes() == b"pwned\n"


def test_the_documented_onnxruntime_snippet_runs(ckpt, tmp_path, monkeypatch):
    """docs/inference.md's plain ONNX Runtime example, run as written on an export: the
    cartoon has the photo's size and equals cartoonlab's translation at native resolution."""
    pytest.importorskip("onnxruntime")
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "inference.md").read_text()
    snippet = re.search(r"```python\n(import numpy as np\nimport onnxruntime.*?)```", doc, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    export(ckpt, "onnx", tmp_path / "g.onnx")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)).save("photo.jpg", quality=95)
    exec(snippet, {})  # noqa: S102 - our own documentation
    cartoon = np.asarray(Image.open("cartoon.png"), np.float32)
    photo = torch.from_numpy(np.asarray(Image.open("photo.jpg").convert("RGB"), np.float32) / 127.5 - 1)
    expected = translate(load_generator(ckpt), photo.permute(2, 0, 1)[None]).clamp(-1, 1)
    expected = (expected[0].permute(1, 2, 0).numpy() + 1) * 127.5
    assert cartoon.shape == (37, 50, 3) and np.abs(cartoon - expected).max() <= 2
