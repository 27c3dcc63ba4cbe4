import pytest
import torch

from cartoonlab.inference import translate
from cartoonlab.nets.generators import ResnetGenerator
from cartoonlab.tiles import blend_tiles, mosaic, tile_starts, translate_tiled


@pytest.mark.parametrize(
    ("size", "tile", "overlap", "align"),
    [(64, 32, 8, 4), (100, 32, 8, 4), (200, 96, 44, 4), (33, 16, 3, 1), (16, 32, 8, 4)],
)
def test_tiles_cover_the_image_with_the_overlap_asked_for(size, tile, overlap, align):
    starts = tile_starts(size, tile, overlap, align)
    assert starts[0] == 0 and min(size, starts[-1] + tile) == size
    assert all(s % align == 0 for s in starts)
    assert all(a + tile - b >= overlap for a, b in zip(starts, starts[1:]))  # neighbours share >= overlap
    assert all(b > a for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize(("tile", "overlap"), [(32, 8), (48, 20), (20, 4)])
def test_blending_weights_sum_to_one_everywhere(tile, overlap):
    x = torch.rand(1, 3, 70, 101)
    assert torch.allclose(blend_tiles(lambda t: t, x, tile, overlap), x, atol=1e-6)


def _two_tone(h=64, w=200):
    """A dark, smooth left half and a bright, busy right half: tiles with very different statistics."""
    torch.manual_seed(0)
    x = torch.full((1, 3, h, w), -0.8)
    x[..., w // 2 :] = torch.rand(1, 3, h, w - w // 2) * 1.6 - 0.6
    return x


def _single_tile_columns(w, tile, overlap):
    starts = tile_starts(w, tile, overlap, 4)
    single = torch.ones(w, dtype=torch.bool)
    for a, b in zip(starts, starts[1:]):
        single[b : a + tile] = False
    return single


def test_tiled_instance_norm_generator_equals_untiled_away_from_the_overlaps():
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=8, n_blocks=2).eval()  # InstanceNorm
    x = _two_tone()
    full = translate(net, x)
    tiled = translate_tiled(net, x, 96, 32, stats_pixels=x[0, 0].numel())  # statistics of the full image
    assert tiled.shape == full.shape
    err = (tiled - full).abs().amax(dim=(0, 1, 2))  # per column
    single = _single_tile_columns(200, 96, 32)
    assert err[single].max() < 1e-5, "where one tile alone covers a pixel, tiling changes nothing"
    assert err[~single].max() < 0.1, "across an overlap, the blend stays close to the untiled output"
    per_tile_norm = blend_tiles(lambda t: translate(net, t), x, 96, 32, 4)  # each tile its own statistics
    assert (per_tile_norm - full).abs().mean() > 5 * (tiled - full).abs().mean()


@pytest.mark.parametrize("smooth", [False, True])
def test_statistics_from_a_mosaic_of_crops_beat_each_tile_its_own(smooth):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=8, n_blocks=2).eval()
    x = _two_tone(16, 50) if smooth else _two_tone()
    x = torch.nn.functional.interpolate(x, size=(64, 200), mode="bilinear") if smooth else x
    full = translate(net, x)
    approx = translate_tiled(net, x, 64, 16)  # statistics of a 64 x 64 mosaic of crops
    per_tile = blend_tiles(lambda t: translate(net, t), x, 64, 16, 4)
    assert (approx - full).abs().mean() < 0.5 * (per_tile - full).abs().mean()
    with torch.no_grad():
        assert torch.equal(translate(net, x), full), "the network's own normalization is restored afterwards"


def test_mosaic_keeps_full_resolution_crops():
    x = torch.arange(64 * 200, dtype=torch.float32).reshape(1, 1, 64, 200)
    m = mosaic(x, 4096, 16)  # crops of 16 px, at most 16 rows of them
    assert m.shape[-2] * m.shape[-1] <= 4096 and m[..., :16, :16].equal(x[..., :16, :16])
    assert m.shape[-2] * m.shape[-1] >= 4096 // 2, "the budget is used"
    assert m[..., -1, -1] == x[..., -1, -1], "the grid reaches the far corner"
    assert mosaic(x, 64 * 200, 32) is x


def test_tile_must_exceed_twice_the_overlap():
    net = ResnetGenerator(ngf=4, n_blocks=1).eval()
    with pytest.raises(ValueError, match="more than twice the overlap"):
        translate_tiled(net, torch.zeros(1, 3, 64, 64), 32, 16)
