import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from cartoonlab.data.folders import list_images, load_rgb
from cartoonlab.metrics import (
    FIDKID,
    file_features,
    frechet_distance,
    kid_subset_size_for,
    load_backbone,
    reference_features,
)
from cartoonlab.metrics.fid import _PassThrough, frechet_distance_of_samples


def fake_features(n, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 2048, generator=g) @ (torch.randn(2048, 2048, generator=g) * 0.02)
    return (base + shift).abs()  # pool3 features are non-negative


@pytest.mark.parametrize("n", [150, 2300], ids=["fewer-images-than-features", "more"])
def test_parity_with_torchmetrics(n):
    real, fake = fake_features(n, seed=1), fake_features(n, shift=0.3, seed=2)
    ours = FIDKID(kid_subsets=10, kid_subset_size=100)
    ours.set_reference(real)
    ours.update(fake)
    torch.manual_seed(0)
    res = ours.compute()

    ref = FrechetInceptionDistance(feature=_PassThrough())
    ref.update(real, real=True)
    ref.update(fake, real=False)
    assert float(res["fid"]) == pytest.approx(float(ref.compute()), rel=1e-3)

    assert res["kid_subset_size"] == min(100, n // 2)
    kid = KernelInceptionDistance(feature=_PassThrough(), subsets=10, subset_size=res["kid_subset_size"])
    kid.update(real, real=True)
    kid.update(fake, real=False)
    torch.manual_seed(0)
    assert float(res["kid"]) == pytest.approx(float(kid.compute()[0]), rel=1e-3)


def test_kid_std_is_a_real_spread(monkeypatch):
    """40 vs 40 images: subsets of all 40 would be permutations of one set (std ~1e-7)."""
    real, fake = fake_features(40, seed=5), fake_features(40, shift=0.3, seed=6)
    m = FIDKID(kid_subsets=50)
    m.set_reference(real)
    m.update(fake)
    monkeypatch.setattr(
        m.fid, "compute", lambda: torch.tensor(0.0)
    )  # FID's 2048-d eigh: ~10 s, not tested here
    torch.manual_seed(0)
    res = m.compute()
    assert res["kid_subset_size"] == 20 < 40
    kid, std = float(res["kid"]), float(res["kid_std"])
    assert kid > 0.005  # the shifted set is clearly apart
    assert std > 0.05 * kid  # spread at subset size 20 is ~0.3 kid; the whole-set "spread" is ~3e-5 kid

    m.kid.subset_size, m.kid._computed = 40, None  # the old rule, for contrast
    assert float(m.kid.compute()[1]) < 1e-3 * kid


def test_kid_subsets_do_not_depend_on_or_touch_the_global_rng(monkeypatch):
    real, fake = fake_features(40, seed=5), fake_features(40, shift=0.3, seed=6)
    m = FIDKID(kid_subsets=20)
    m.set_reference(real)
    m.update(fake)
    monkeypatch.setattr(m.fid, "compute", lambda: torch.tensor(0.0))
    values = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        state = torch.get_rng_state()
        m.kid._computed = None
        values.append(float(m.compute()["kid"]))
        assert torch.equal(torch.get_rng_state(), state), "scoring leaves the training RNG as it was"
    assert values[0] == values[1]


def test_kid_subset_size_rule():
    assert kid_subset_size_for(40, 40) == 20
    assert kid_subset_size_for(40, 25) == 12
    assert kid_subset_size_for(3, 50) == 2 and kid_subset_size_for(2, 2) == 2  # the least MMD^2 takes
    assert kid_subset_size_for(1500, 1500) == 750
    assert kid_subset_size_for(5000, 3000) == 1000  # the cap
    assert kid_subset_size_for(5000, 3000, cap=100) == 100
    for n in range(3, 300):
        assert 2 <= kid_subset_size_for(n, n) < n


def test_frechet_distance_matches_scipy_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 64)), rng.normal(1.0, 2.0, size=(300, 64))
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    got = frechet_distance(*(torch.from_numpy(x) for x in (mu1, s1, mu2, s2)))
    assert float(got) == pytest.approx(expected, rel=1e-9)
    assert float(
        frechet_distance(
            torch.from_numpy(mu1), torch.from_numpy(s1), torch.from_numpy(mu1), torch.from_numpy(s1)
        )
    ) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("n", [40, 400])  # fewer images than features (singular), and more
def test_frechet_distance_of_samples_is_exact(n):
    """The samples'-space form equals the covariance form, with singular covariances too."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(n, 64)), rng.normal(0.5, 1.5, size=(n, 64)) @ rng.normal(size=(64, 64)) / 8
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = frechet_distance(*(torch.from_numpy(x) for x in (mu1, s1, mu2, s2)))
    got = frechet_distance_of_samples(torch.from_numpy(a), torch.from_numpy(b))
    assert float(got) == pytest.approx(float(expected), rel=1e-7)


def test_reset_keeps_the_reference():
    m = FIDKID(kid_subset_size=50)
    m.set_reference(fake_features(60, seed=3))
    m.update(fake_features(60, seed=4))
    first = m.compute()["fid"]
    m.reset()
    m.update(fake_features(60, seed=4))
    assert m.compute()["fid"] == first


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def test_backbone_is_the_fid_inception(backbone):
    x = torch.randint(0, 256, (2, 3, 64, 80), dtype=torch.uint8)
    f = backbone(x)
    assert f.shape == (2, 2048) and (f >= 0).all()
    assert torch.equal(f, backbone(x)), "deterministic"
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    with pytest.raises(TypeError, match="uint8"):
        backbone(x.float())


def test_fid_separates_domains_and_cache_is_reused(backbone, synth_root, monkeypatch):
    photos, cartoons = list_images(synth_root / "trainA")[:16], list_images(synth_root / "trainB")[:24]
    ref = reference_features(backbone, cartoons[:12], image_size=48)
    calls = []
    monkeypatch.setattr("cartoonlab.metrics.feature_cache.file_features", lambda *a, **k: calls.append(1))
    assert torch.equal(reference_features(backbone, cartoons[:12], image_size=48), ref), "from the cache"
    assert not calls
    monkeypatch.undo()

    def fid(feats):
        m = FIDKID()
        m.set_reference(ref)
        m.update(feats)
        return float(m.compute()["fid"])

    same_domain = fid(file_features(backbone, cartoons[12:], image_size=48))
    other_domain = fid(file_features(backbone, photos[:12], image_size=48))
    assert other_domain > 1.5 * same_domain


class _MeanBackbone(torch.nn.Module):
    """Stands for Inception: one feature per channel, and a record of its batch shapes."""

    name, num_features = "mean", 3

    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return x.float().mean((2, 3))


def test_file_features_keep_at_most_one_batch_of_decoded_images(tmp_path, monkeypatch):
    """Decoded images are freed batch by batch: never all of a folder alive at once."""
    import weakref

    from PIL import Image

    import cartoonlab.metrics.feature_cache as features

    sizes = [16] * 7 + [20] * 5  # two shapes: a batch also ends where the shape changes
    paths = []
    for i, s in enumerate(sizes):
        paths.append(tmp_path / f"{i:02d}.png")
        Image.fromarray(np.full((s, s, 3), i * 20, np.uint8)).save(paths[-1])
    alive, peak = [], [0]

    def tracked_load(path):
        img = load_rgb(path)
        alive.append(weakref.ref(img))
        peak[0] = max(peak[0], sum(r() is not None for r in alive))
        return img

    monkeypatch.setattr(features, "load_rgb", tracked_load)
    backbone = _MeanBackbone()
    feats = file_features(backbone, paths, batch_size=3)
    assert peak[0] <= 3 + 1, f"{peak[0]} decoded images alive at once"  # a batch and the next image
    assert torch.equal(feats[:, 0], torch.tensor([i * 20.0 for i in range(len(sizes))]))
    assert [s[0] for s in backbone.shapes] == [3, 3, 1, 3, 2]

    monkeypatch.setattr(features, "MAX_BATCH_PIXELS", 2 * 20 * 20)  # huge images: fewer per batch
    backbone = _MeanBackbone()
    file_features(backbone, paths, batch_size=3)
    assert all(n * h * w <= 2 * 20 * 20 for n, _, h, w in backbone.shapes)


def test_reference_and_smoothing_hashes_stream_files(tmp_path, monkeypatch):
    """Every file hash goes through the chunked `file_sha256`: none reads a file whole."""
    import hashlib
    import json
    from pathlib import Path

    from cartoonlab.data.smoothing import MANIFEST, smooth_folder
    from tests.data.badfiles import write_good

    paths = write_good(tmp_path / "src", 3)
    digests = {p.name: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}

    def whole(self):
        raise AssertionError(f"{self} read whole")

    monkeypatch.setattr(Path, "read_bytes", whole)
    feats = reference_features(_MeanBackbone(), paths)
    assert feats.shape == (3, 3) and torch.equal(reference_features(_MeanBackbone(), paths), feats)
    smooth_folder(tmp_path / "src", tmp_path / "dst", workers=1)
    manifest = json.loads((tmp_path / "dst" / MANIFEST).read_text())
    assert {k: v["src"] for k, v in manifest["files"].items()} == digests


def test_an_unwritable_or_corrupt_cache_never_loses_the_features(tmp_path, monkeypatch):
    from tests.data.badfiles import write_good

    paths = write_good(tmp_path / "src", 3)
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("CARTOONLAB_CACHE", str(tmp_path / "a_file" / "cache"))  # unwritable, even for root
    with pytest.warns(UserWarning, match="FID features not cached"):
        feats = reference_features(_MeanBackbone(), paths)
    assert feats.shape == (3, 3)
    monkeypatch.setenv("CARTOONLAB_CACHE", str(tmp_path / "cache"))
    assert torch.equal(reference_features(_MeanBackbone(), paths), feats)  # cached now
    (entry,) = (tmp_path / "cache" / "fid").glob("*.pt")
    entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable FID cache"):
        assert torch.equal(reference_features(_MeanBackbone(), paths), feats)


def test_the_backbone_names_are_one_vocabulary():
    """`cartoonlab metrics --backbone` lists them itself (the CLI starts without torch)."""
    from cartoonlab.cli import build_parser
    from cartoonlab.metrics.backbone import FID_BACKBONES, load_backbone

    metrics = build_parser()._subparsers._group_actions[0].choices["metrics"]
    fid = metrics._subparsers._group_actions[0].choices["fid"]
    choices = next(a.choices for a in fid._actions if a.dest == "backbone")
    assert tuple(choices) == FID_BACKBONES
    with pytest.raises(ValueError, match="unknown FID backbone 'inception'"):
        load_backbone("inception")


def test_metrics_fid_names_a_decompression_bomb(tmp_path, capsys, monkeypatch):
    """PIL's own bomb limit (hit inside Image.open, before cartoonlab's) names the file."""
    from PIL import Image

    from cartoonlab.cli import main

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 40, 3), i * 40, np.uint8)).save(tmp_path / d / f"{i}.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40 x 40 is now a "bomb" (over twice the limit)
    code = main(["metrics", "fid", str(tmp_path / "a"), str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and f"{tmp_path / 'a' / '0.png'}: Image size" in err[-1], err
