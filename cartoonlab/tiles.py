"""Running a generator on an image tensor: `translate` (any size, padded to the stride),
`translate_at` (at a working scale, e.g. the training one, optionally in tiles), and the
tiling itself, for images larger than memory allows, without visible seams. The training
systems (validation at the training scale) and `cartoonlab.inference` both use it.

A fully convolutional generator sees a bounded neighbourhood of each pixel, so an
image can be cut into overlapping tiles, each translated on its own, and put back:
inside a tile, at least `overlap` pixels from a cut, the output is the untiled one
(when `overlap` covers the network's receptive margin); across an overlap the two
tiles are blended with linear weights, so no seam shows.

InstanceNorm is the exception: it normalizes with the mean and variance of the whole
image, and a tile of sky has other statistics than a tile of grass, so tiles would come
out in different tones. `shared_norm_stats` fixes that: it records every InstanceNorm
layer's statistics in one pass over the whole image (or, when that is larger than one
tile, over a mosaic of full-resolution crops from all over it: an approximation) and lets
the tiles use them. With the statistics of the full image, tiling is exact away from the
overlaps for InstanceNorm networks too.
BatchNorm in eval mode uses its running statistics and needs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

Translate = Callable[[torch.Tensor], torch.Tensor]
PATCH = 128  # side of the full-resolution crops whose mosaic gives InstanceNorm its statistics
OVERLAP = 64  # pixels shared by neighbouring tiles (at the working size)


def tile_starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Offsets of the fewest tiles of `tile` pixels that cover `size` with adjacent ones
    sharing at least `overlap` pixels, spread evenly, each a multiple of `align` (size,
    tile and overlap must be multiples of it); the last tile ends at the border."""
    if tile >= size:
        return [0]
    n_size, n_tile, n_overlap = size // align, tile // align, overlap // align
    n = -(-(n_size - n_overlap) // (n_tile - n_overlap))
    return [i * (n_size - n_tile) // (n - 1) * align for i in range(n)]


def ramp(n: int, lo: int, hi: int) -> torch.Tensor:
    """1-D blending weights of a tile of n pixels sharing `lo` pixels with the tile before
    it and `hi` with the tile after (0: a border). Across an overlap of o pixels the weight
    is 0 for the o/4 pixels next to the cut (where the tile's output is least right), then
    rises linearly to 1 over o/2 pixels: the two tiles' weights sum to 1 everywhere."""
    d = torch.arange(n, dtype=torch.float32) + 0.5  # distance to the tile's first edge

    def edge(dist: torch.Tensor, o: int) -> torch.Tensor:
        return ((dist - o / 4) / (o / 2)).clamp(0, 1) if o else torch.ones(n)

    return torch.minimum(edge(d, lo), edge(n - d, hi))


def pad_to_stride(x: torch.Tensor, stride: int) -> torch.Tensor:
    """x padded on the bottom and right to a multiple of `stride`, at least 2 strides
    (InstanceNorm needs more than one value per channel at the bottleneck): reflection
    where the image is large enough, else replication."""
    h, w = x.shape[-2:]
    ph, pw = max(-h % stride, 2 * stride - h), max(-w % stride, 2 * stride - w)
    if not (ph or pw):
        return x
    return F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")


@torch.no_grad()
def translate_tiled(
    net: nn.Module, x: torch.Tensor, tile: int, overlap: int, stats_pixels: int | None = None
) -> torch.Tensor:
    """net(x) for a `[1, C, H, W]` image, computed on tiles of at most tile x tile pixels
    that share `overlap` pixels with their neighbours (both rounded to the network's
    stride, so every tile sees the untiled sampling grid). InstanceNorm layers use the
    whole image's statistics, measured at most at `stats_pixels` (default: one tile)."""
    s = getattr(net, "stride", 4)
    tile, overlap = max(s, tile // s * s), -(-overlap // s) * s
    if tile <= 2 * overlap:
        raise ValueError(f"tile {tile} must be more than twice the overlap {overlap} (stride {s})")
    h, w = x.shape[-2:]
    xp = pad_to_stride(x, s)
    with shared_norm_stats(net, xp, stats_pixels or tile * tile, s):
        return blend_tiles(net, xp, tile, overlap, s)[..., :h, :w]


def blend_tiles(fn: Translate, x: torch.Tensor, tile: int, overlap: int, align: int = 1) -> torch.Tensor:
    """fn over overlapping tiles of x (offsets multiples of `align`), blended with linear
    weights across each overlap."""
    h, w = x.shape[-2:]
    ys, xs = tile_starts(h, tile, overlap, align), tile_starts(w, tile, overlap, align)
    th, tw = min(tile, h), min(tile, w)
    out: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    for i, y0 in enumerate(ys):
        wy = ramp(th, _shared(ys, i - 1, i, th), _shared(ys, i, i + 1, th))
        for j, x0 in enumerate(xs):
            wx = ramp(tw, _shared(xs, j - 1, j, tw), _shared(xs, j, j + 1, tw))
            y = fn(x[..., y0 : y0 + th, x0 : x0 + tw])
            if out is None or weight is None:
                out, weight = y.new_zeros(*y.shape[:2], h, w), y.new_zeros(1, 1, h, w)
            k = (wy[:, None] * wx[None, :]).to(y)
            out[..., y0 : y0 + th, x0 : x0 + tw] += y * k
            weight[..., y0 : y0 + th, x0 : x0 + tw] += k
    assert out is not None and weight is not None  # tile_starts gives at least one tile
    return out.div_(weight)


def _shared(starts: list[int], a: int, b: int, n: int) -> int:
    """Pixels shared by tiles a and b (0 if one does not exist)."""
    if a < 0 or b >= len(starts):
        return 0
    return max(0, starts[a] + n - starts[b])


@contextmanager
def shared_norm_stats(net: nn.Module, x: torch.Tensor, max_pixels: int, stride: int = 4) -> Iterator[None]:
    """Within the block, every InstanceNorm2d of `net` normalizes with the statistics it
    has on the whole image x (on `mosaic(x)` when x has more than `max_pixels`)."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    if not norms:
        yield
        return
    x = mosaic(x, max_pixels, PATCH)
    stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(m, inputs, _):
        v, mu = torch.var_mean(inputs[0], dim=(2, 3), keepdim=True, unbiased=False)
        stats[m] = (mu, v)

    hooks = [m.register_forward_hook(record) for m in norms]
    try:
        with torch.no_grad():
            net(pad_to_stride(x, stride))
    finally:
        for hk in hooks:
            hk.remove()
    for m in norms:
        m.forward = _fixed_norm(m, *stats[m])  # type: ignore[method-assign,assignment]  # restored below
    try:
        yield
    finally:
        for m in norms:
            del m.forward  # back to the class's forward


def mosaic(x: torch.Tensor, max_pixels: int, patch: int) -> torch.Tensor:
    """x itself if it has at most max_pixels, else a mosaic of at most that many pixels:
    crops of patch x patch pixels (smaller if fewer than 16 would fit) at full resolution,
    spread evenly over the image (a grid with the image's aspect). Full resolution keeps the
    pixel-scale textures whose statistics a downscaled copy would lose (on a noisy half image
    the downscaled copy's statistics were worse than each tile's own)."""
    h, w = x.shape[-2:]
    if h * w <= max_pixels:
        return x
    p = max(1, min(patch, h, w, int((max_pixels / 16) ** 0.5)))  # at least 16 crops
    n = max(1, max_pixels // (p * p))
    ny = max(1, min(h // p, round((n * h / w) ** 0.5)))
    nx = max(1, min(w // p, n // ny))
    ys = [i * (h - p) // max(1, ny - 1) for i in range(ny)]
    xs = [j * (w - p) // max(1, nx - 1) for j in range(nx)]
    return torch.cat([torch.cat([x[..., y : y + p, x0 : x0 + p] for x0 in xs], -1) for y in ys], -2)


def _fixed_norm(m: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor) -> Translate:
    def forward(t: torch.Tensor) -> torch.Tensor:
        y = (t - mean) * torch.rsqrt(var + m.eps)
        if m.affine:
            y = y * m.weight[None, :, None, None] + m.bias[None, :, None, None]
        return y

    return forward


@torch.no_grad()
def translate(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """G(x) for `[B, 3, H, W]` in [-1, 1] of any H, W: pad to the network's stride, run,
    crop back to H x W."""
    h, w = x.shape[-2:]
    return net(pad_to_stride(x, getattr(net, "stride", 4)))[..., :h, :w]


def work_size(h: int, w: int, work_side: int | None) -> tuple[int, int]:
    """The size an h x w image is translated at: its short side resized to `work_side`
    (None: as is)."""
    k = work_side / min(h, w) if work_side else 1.0
    return max(1, round(h * k)), max(1, round(w * k))


@torch.no_grad()
def translate_at(
    net: nn.Module, x: torch.Tensor, work_side: int | None, tile: int | None = None, overlap: int = OVERLAP
) -> torch.Tensor:
    """G(x) computed with the short side resized to `work_side` (None: as is), returned
    at x's own size. Downscaling is antialiased, like the training data's INTER_AREA.
    With `tile`, a working image larger than tile x tile is translated in overlapping
    tiles (`cartoonlab.tiles`: bounded memory, no visible seams)."""
    h, w = x.shape[-2:]
    resized = bool(work_side) and work_side != min(h, w)
    small = (
        F.interpolate(
            x, size=work_size(h, w, work_side), mode="bilinear", antialias=True, align_corners=False
        )
        if resized
        else x
    )
    if tile and max(small.shape[-2:]) > tile:
        y = torch.cat([translate_tiled(net, im[None], tile, overlap) for im in small])
    else:
        y = translate(net, small)
    if not resized:
        return y
    return F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)
