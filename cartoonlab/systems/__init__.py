from cartoonlab.systems.cartoongan import CartoonGAN
from cartoonlab.systems.cyclegan import CycleGAN
from cartoonlab.systems.improved import ImprovedCartoonGAN

__all__ = ["CartoonGAN", "CycleGAN", "ImprovedCartoonGAN"]
