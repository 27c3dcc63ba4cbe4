"""The CartoonGAN author's released styles (Hayao, Hosoda, Paprika, Shinkai) as cartoonlab
generators.

The first author's PyTorch test code (github.com/Yijunmaverick/CartoonGAN-Test-Pytorch-Torch,
`network/Transformer.py`) ships weights as plain state dicts, `<Style>_net_G_float.pth`,
downloaded by its `pretrained_model/download_pth.sh` from
http://vllab1.ucmerced.edu/~yli62/CartoonGAN/pytorch_pth/ (not reachable from every
machine: download them where you can and pass the file, `cartoonize --weights Hayao_net_G_float.pth`).

Their network is cartoonlab's `CartoonGANGenerator` (ngf 64, 8 residual blocks,
transposed-conv upsampling) with InstanceNorm that has a learned scale and shift and
eps 1e-9 (`norm="instance_affine"`), and it takes and returns **BGR** in [-1, 1]. The
conversion folds the colour order into the first and last convolutions (their input
and output channels are permuted), so the converted network takes and returns RGB in
[-1, 1] like every cartoonlab generator, with the same numbers as the released
pipeline. The released script resizes each photo so that its longer side is 450 px
(bicubic) and writes the output at that size: `cartoonize --weights ... --native
--max-side 450` is the closest (it only downscales, antialiased).
"""

from __future__ import annotations

from pathlib import Path

import torch

from cartoonlab.nets.generators import CartoonGANGenerator

STYLES = ("Hayao", "Hosoda", "Paprika", "Shinkai")


def released_keys(n_blocks: int = 8) -> list[str]:
    """The released Transformer's state-dict keys in forward order."""
    layers = ["conv01_1", "in01_1", "conv02_1", "conv02_2", "in02_1", "conv03_1", "conv03_2", "in03_1"]
    for b in range(4, 4 + n_blocks):
        layers += [f"conv{b:02d}_1", f"in{b:02d}_1", f"conv{b:02d}_2", f"in{b:02d}_2"]
    layers += [
        "deconv01_1",
        "deconv01_2",
        f"in{4 + n_blocks:02d}_1",
        "deconv02_1",
        "deconv02_2",
        f"in{5 + n_blocks:02d}_1",
        "deconv03_1",
    ]
    return [
        f"{name}.{p}"
        for name in layers
        for p in (("scale", "shift") if name.startswith("in") else ("weight", "bias"))
    ]


def convert_released(weights: dict[str, torch.Tensor]) -> CartoonGANGenerator:
    """A cartoonlab generator (RGB in, RGB out) computing what the released BGR network does."""
    keys = released_keys()
    missing, extra = [k for k in keys if k not in weights], [k for k in weights if k not in set(keys)]
    if missing or extra:
        raise ValueError(
            f"not a released CartoonGAN generator: {len(missing)} key(s) missing "
            f"({', '.join(missing[:3])}), {len(extra)} unexpected ({', '.join(extra[:3])})"
        )
    net = CartoonGANGenerator(ngf=64, n_blocks=8, norm="instance_affine")
    ours = list(net.state_dict())
    state = {o: weights[k].float().clone() for o, k in zip(ours, keys, strict=True)}
    first_w, last_w, last_b = ours[0], ours[-2], ours[-1]
    state[first_w] = state[first_w].flip(1)  # conv01_1 reads BGR: its input channels reversed read RGB
    state[last_w], state[last_b] = state[last_w].flip(0), state[last_b].flip(0)  # writes RGB
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    wrong = [k for k in ours if tuple(state[k].shape) != shapes[k]]
    if wrong:
        raise ValueError(
            f"not a released CartoonGAN generator: {wrong[0]} has shape "
            f"{tuple(state[wrong[0]].shape)}, expected {shapes[wrong[0]]}"
        )
    net.load_state_dict(state)
    net.work_side = None  # type: ignore[assignment]  # translate at the size given (see the module docstring)
    return net.eval()


def load_released(path: str | Path, map_location="cpu") -> CartoonGANGenerator:
    """`convert_released` of a `<Style>_net_G_float.pth` file, read with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            2,
            f"No such file (the released styles are {', '.join(STYLES)}: "
            "see `cartoonlab.released` for where to get them)",
            str(path),
        )
    try:
        weights = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable or unsafe file
        raise ValueError(f"{path} is not a readable weights file: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(weights, dict):
        raise ValueError(f"{path} is not a state dict (got {type(weights).__name__})")
    return convert_released(weights)
