"""The released CartoonGAN styles' converter: the converted generator (RGB in, RGB out)
computes what the released BGR network computes, re-implemented here from its layer list."""

import pytest
import torch
import torch.nn.functional as F

from cartoonlab.released import convert_released, load_released, released_keys


def _released_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {
        "conv01_1": (64, 3, 7, 7),
        "conv02_1": (128, 64, 3, 3),
        "conv02_2": (128, 128, 3, 3),
        "conv03_1": (256, 128, 3, 3),
        "conv03_2": (256, 256, 3, 3),
        "deconv01_1": (256, 128, 3, 3),
        "deconv01_2": (128, 128, 3, 3),
        "deconv02_1": (128, 64, 3, 3),
        "deconv02_2": (64, 64, 3, 3),
        "deconv03_1": (3, 64, 7, 7),
    }
    state = {}
    for key in released_keys():
        layer, p = key.split(".")
        if layer.startswith("in"):
            c = {"in01": 64, "in02": 128, "in13": 64, "in12": 128}.get(layer[:4], 256)
            state[key] = (
                (torch.rand(c, generator=g) + 0.5) if p == "scale" else torch.randn(c, generator=g) * 0.1
            )
        else:
            w = shapes.get(layer, (256, 256, 3, 3))
            transposed = layer in ("deconv01_1", "deconv02_1")  # weight (in, out, k, k)
            state[key] = (
                torch.randn(*w, generator=g) / (w[1] * w[2] * w[3]) ** 0.5
                if p == "weight"
                else torch.randn(w[1] if transposed else w[0], generator=g) * 0.1
            )
    return state


def _released_forward(s, x):
    """The released Transformer's forward pass, on BGR in [-1, 1]."""

    def inorm(t, name):
        var, mean = torch.var_mean(t, dim=(2, 3), keepdim=True, unbiased=False)
        return (t - mean) / torch.sqrt(var + 1e-9) * s[f"{name}.scale"][None, :, None, None] + s[
            f"{name}.shift"
        ][None, :, None, None]

    def conv(t, name, stride=1, pad=0):
        return F.conv2d(t, s[f"{name}.weight"], s[f"{name}.bias"], stride=stride, padding=pad)

    y = F.relu(inorm(conv(F.pad(x, (3,) * 4, mode="reflect"), "conv01_1"), "in01_1"))
    y = F.relu(inorm(conv(conv(y, "conv02_1", 2, 1), "conv02_2", 1, 1), "in02_1"))
    y = F.relu(inorm(conv(conv(y, "conv03_1", 2, 1), "conv03_2", 1, 1), "in03_1"))
    for b in range(4, 12):
        r = F.relu(inorm(conv(F.pad(y, (1,) * 4, mode="reflect"), f"conv{b:02d}_1"), f"in{b:02d}_1"))
        y = inorm(conv(F.pad(r, (1,) * 4, mode="reflect"), f"conv{b:02d}_2"), f"in{b:02d}_2") + y
    for i, name in ((1, "in12_1"), (2, "in13_1")):
        y = F.conv_transpose2d(
            y, s[f"deconv0{i}_1.weight"], s[f"deconv0{i}_1.bias"], stride=2, padding=1, output_padding=1
        )
        y = F.relu(inorm(conv(y, f"deconv0{i}_2", 1, 1), name))
    return torch.tanh(conv(F.pad(y, (3,) * 4, mode="reflect"), "deconv03_1"))


def test_converted_generator_equals_the_released_network_in_rgb(tmp_path):
    state = _released_state()
    net = convert_released(state)
    x = torch.rand(2, 3, 32, 44) * 2 - 1  # RGB
    with torch.no_grad():
        ours = net(x)
        released = _released_forward(state, x.flip(1)).flip(1)  # RGB -> BGR -> network -> RGB
    assert released.abs().mean() > 0.05, "a non-trivial output"
    assert torch.allclose(ours, released, atol=1e-5)
    torch.save(state, tmp_path / "Hayao_net_G_float.pth")
    loaded = load_released(tmp_path / "Hayao_net_G_float.pth")
    with torch.no_grad():
        assert torch.allclose(loaded(x), ours, atol=1e-6)


def test_other_state_dicts_are_refused_by_name(tmp_path):
    state = _released_state()
    del state["in05_2.scale"]
    with pytest.raises(ValueError, match="1 key.s. missing .in05_2.scale"):
        convert_released(state)
    state = _released_state()
    state["conv01_1.weight"] = torch.zeros(32, 3, 7, 7)
    with pytest.raises(ValueError, match="shape"):
        convert_released(state)
    with pytest.raises(FileNotFoundError, match="Hayao, Hosoda, Paprika, Shinkai"):
        load_released(tmp_path / "nope.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a state dict"):
        load_released(tmp_path / "list.pth")


def test_cartoonize_with_released_weights(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from cartoonlab.cli import main

    torch.save(_released_state(), tmp_path / "Hayao_net_G_float.pth")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 90, 3), np.uint8)).save(tmp_path / "a.png")
    code = main(
        [
            "cartoonize",
            "--weights",
            str(tmp_path / "Hayao_net_G_float.pth"),
            "--native",
            "--max-side",
            "45",
            str(tmp_path / "a.png"),
            str(tmp_path / "out.png"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "out.png").size == (45, 30)


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript"])
def test_released_styles_export_and_load_back_equal_to_the_released_network(tmp_path, capsys, fmt):
    from cartoonlab.cli import main
    from cartoonlab.export import FORMATS
    from cartoonlab.inference import load_generator, translate

    state = _released_state()
    torch.save(state, tmp_path / "Hayao_net_G_float.pth")
    weights = str(tmp_path / "Hayao_net_G_float.pth")
    code = main(["export", "--weights", weights, "--format", fmt, str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    net = load_generator(tmp_path / f"Hayao_net_G_float{FORMATS[fmt]}", trust_code=True)  # our own export
    x = torch.rand(1, 3, 36, 52) * 2 - 1
    with torch.no_grad():
        released = _released_forward(state, x.flip(1)).flip(1).clamp(-1, 1)
    assert torch.allclose(translate(net, x), released, atol=1e-4)
