from cartoonlab.nets.discriminators import CartoonGANDiscriminator, PatchGANDiscriminator
from cartoonlab.nets.features import ContentExtractor
from cartoonlab.nets.generators import CartoonGANGenerator, ResnetGenerator, UnetGenerator

__all__ = [
    "CartoonGANDiscriminator",
    "PatchGANDiscriminator",
    "ContentExtractor",
    "CartoonGANGenerator",
    "ResnetGenerator",
    "UnetGenerator",
]
