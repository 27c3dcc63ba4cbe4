"""The norm options every network offers, and what each must build."""

from torch import nn

# norm option -> (module type, affine); None: no norm layer at all
NORM_CASES = [
    ("batch", nn.BatchNorm2d, True),
    ("instance", nn.InstanceNorm2d, False),
    ("instance_affine", nn.InstanceNorm2d, True),
    ("none", None, None),
]


def norm_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
