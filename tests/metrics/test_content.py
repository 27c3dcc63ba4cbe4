import math

import pytest
import torch

from cartoonlab.data.synthetic import render_pair
from cartoonlab.metrics import ContentMetrics
from cartoonlab.metrics.content import PSNR_CAP, SSIM_KERNEL, SSIM_SIGMA, cosine_distance

PIXEL_KEYS = {"n_images", "ssim_photo", "psnr_photo"}
TRUTH_KEYS = {"n_truth", "ssim_truth", "psnr_truth", "l1_truth"}


def _tensor(img):
    return torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1


def pairs(n=6, size=32, seed=0):
    """Synthetic photos and their ground-truth cartoons, [-1, 1]."""
    ps, cs = zip(*(render_pair(i, size, seed) for i in range(n)))
    return torch.stack([_tensor(p) for p in ps]), torch.stack([_tensor(c) for c in cs])


def textured(n=4, size=32, seed=0):
    """High-contrast texture: random-colour 4 px checkerboard plus a sine grating."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.rand(n, 3, size // 4, size // 4, generator=g) * 2 - 1
    checker = cells.repeat_interleave(4, 2).repeat_interleave(4, 3)
    grating = torch.sin(torch.arange(size) * 1.3).view(1, 1, 1, size)
    return (0.7 * checker + 0.3 * grating).clamp(-1, 1)


def feats(n, seed=0):
    """Stand-ins for pool3 features: non-negative, 2048-d."""
    return torch.randn(n, 2048, generator=torch.Generator().manual_seed(seed)).abs()


def run(fake, photo, **kw):
    m = ContentMetrics()
    m.update(fake, photo, **kw)
    return m.compute()


def test_ssim_window_is_7_taps():
    assert SSIM_KERNEL == 7 and 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1 == 7  # torchmetrics' rule


@pytest.mark.parametrize("size", [16, 32, 64])
def test_identity(size):
    photo, _ = pairs(size=size)
    f = feats(len(photo))
    res = run(photo.clone(), photo, fake_feats=f.clone(), photo_feats=f)
    assert set(res) == PIXEL_KEYS | {"perc_photo"}
    assert res["n_images"] == len(photo)
    assert res["ssim_photo"] == pytest.approx(1, abs=1e-5)
    assert res["psnr_photo"] == pytest.approx(PSNR_CAP) and math.isfinite(res["psnr_photo"])
    assert res["perc_photo"] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("size", [32, 64])
def test_constant_grey_loses_the_content(size):
    photo = textured(size=size)
    f = feats(len(photo), seed=1)
    res = run(torch.zeros_like(photo), photo, fake_feats=feats(len(photo), seed=2), photo_feats=f)
    assert res["ssim_photo"] < 0.2
    assert res["psnr_photo"] < 15
    assert res["perc_photo"] > 0.1


@pytest.mark.parametrize("size", [32, 64])
def test_slight_noise_ranks_between_identity_and_grey(size):
    photo, _ = pairs(size=size)
    g = torch.Generator().manual_seed(3)
    noised = photo + 0.02 * torch.randn(photo.shape, generator=g)
    f = feats(len(photo), seed=4)
    f_noised = f + 0.05 * torch.randn(f.shape, generator=g).abs()
    f_grey = feats(len(photo), seed=5)
    ident = run(photo, photo, fake_feats=f, photo_feats=f)
    noisy = run(noised, photo, fake_feats=f_noised, photo_feats=f)
    grey = run(torch.zeros_like(photo), photo, fake_feats=f_grey, photo_feats=f)
    assert ident["ssim_photo"] > noisy["ssim_photo"] > grey["ssim_photo"]
    assert ident["psnr_photo"] > noisy["psnr_photo"] > grey["psnr_photo"]
    assert ident["perc_photo"] < noisy["perc_photo"] < grey["perc_photo"]
    assert noisy["ssim_photo"] > 0.9 and noisy["psnr_photo"] > 35


def test_truth_metrics_only_with_truth():
    photo, truth = pairs()
    f_fake, f_photo, f_truth = feats(6, 1), feats(6, 2), feats(6, 3)
    assert set(run(photo, photo)) == PIXEL_KEYS
    res = run(photo, photo, truth=truth)
    assert set(res) == PIXEL_KEYS | TRUTH_KEYS
    res = run(photo, photo, truth=truth, fake_feats=f_fake, photo_feats=f_photo, truth_feats=f_truth)
    assert set(res) == PIXEL_KEYS | TRUTH_KEYS | {"perc_photo", "perc_truth"}
    assert res["n_truth"] == 6
    # the true cartoon is perfect against itself; the photo is not
    perfect = run(truth, photo, truth=truth, fake_feats=f_truth, truth_feats=f_truth)
    assert perfect["ssim_truth"] == pytest.approx(1, abs=1e-5)
    assert perfect["psnr_truth"] == pytest.approx(PSNR_CAP)
    assert perfect["l1_truth"] == pytest.approx(0, abs=1e-7)
    assert perfect["perc_truth"] == pytest.approx(0, abs=1e-6)
    assert res["psnr_truth"] < 30 and res["l1_truth"] > 0.02 and res["perc_truth"] > 0


def test_l1_is_in_unit_range_units():
    a = torch.full((2, 3, 16, 16), -1.0)
    res = run(a, a, truth=torch.ones_like(a))  # black vs white: the largest error
    assert res["l1_truth"] == pytest.approx(1)
    assert res["psnr_truth"] == pytest.approx(0, abs=1e-6)


def test_partial_truth_is_averaged_over_images_with_truth():
    photo, truth = pairs()
    m = ContentMetrics()
    m.update(photo[:4], photo[:4], truth=truth[:4])
    m.update(photo[4:], photo[4:])
    with pytest.warns(UserWarning, match="only some"):
        res = m.compute()
    assert res["n_images"] == 6 and res["n_truth"] == 4
    assert res["l1_truth"] == pytest.approx(run(photo[:4], photo[:4], truth=truth[:4])["l1_truth"], rel=1e-6)


def _batches(size):
    photo, truth = pairs(n=7, size=size, seed=1)
    g = torch.Generator().manual_seed(6)
    fake = (0.6 * photo + 0.4 * truth + 0.1 * torch.randn(photo.shape, generator=g)).clamp(-1, 1)
    kw = dict(truth=truth, fake_feats=feats(7, 7), photo_feats=feats(7, 8), truth_feats=feats(7, 9))
    return fake, photo, kw


def _split(fake, photo, kw, k):
    first = (fake[:k], photo[:k], {n: v[:k] for n, v in kw.items()})
    second = (fake[k:], photo[k:], {n: v[k:] for n, v in kw.items()})
    return first, second


@pytest.mark.parametrize("size", [32, 64])
def test_accumulation_equals_one_update(size):
    fake, photo, kw = _batches(size)
    whole = run(fake, photo, **kw)
    m = ContentMetrics()
    for f, p, k in _split(fake, photo, kw, 3):
        m.update(f, p, **k)
    parts = m.compute()
    assert set(parts) == set(whole) and parts["n_images"] == 7
    for key, v in whole.items():
        assert parts[key] == pytest.approx(v, rel=1e-6, abs=1e-7), key


def test_states_merge_like_ddp_ranks():
    """Each rank holds sums and counts; merging (the DDP "sum" reduction) gives the global mean."""
    fake, photo, kw = _batches(32)
    whole = run(fake, photo, **kw)
    ranks = []
    for f, p, k in _split(fake, photo, kw, 5):
        r = ContentMetrics()
        r.update(f, p, **k)
        ranks.append(r)
    ranks[0].merge_state(ranks[1])
    merged = ranks[0].compute()
    for key, v in whole.items():
        assert merged[key] == pytest.approx(v, rel=1e-6, abs=1e-7), key


@pytest.mark.filterwarnings("ignore:.*called before the ..update:UserWarning")  # after reset(): intended
def test_reset_and_empty():
    photo, _ = pairs(n=2)
    m = ContentMetrics()
    m.update(photo[:0], photo[:0])
    assert m.compute() == {"n_images": 0}
    m.update(photo, photo)
    m.reset()
    assert m.compute() == {"n_images": 0}


def test_cosine_distance():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    assert cosine_distance(a, b).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)


def test_bad_arguments():
    photo, truth = pairs(n=2)
    m = ContentMetrics()
    with pytest.raises(ValueError, match="shape"):
        m.update(photo, photo[:, :, :16])
    with pytest.raises(ValueError, match="truth"):
        m.update(photo, photo, truth=truth[:1])
    with pytest.raises(ValueError, match="fake_feats"):
        m.update(photo, photo, photo_feats=feats(2))
    with pytest.raises(ValueError, match="nothing to compare"):
        m.update(photo, photo, fake_feats=feats(2))
    with pytest.raises(ValueError, match="without `truth`"):
        m.update(photo, photo, fake_feats=feats(2), truth_feats=feats(2))
    with pytest.raises(ValueError, match="B = 2"):
        m.update(photo, photo, fake_feats=feats(3), photo_feats=feats(2))
    assert m.compute() == {"n_images": 0}, "a rejected batch leaves no trace"
