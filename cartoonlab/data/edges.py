"""Edge promoting (CartoonGAN, Sec. 3.3): blur cartoons only around their edges.

CartoonGAN shows the discriminator cartoons whose clear edges were smoothed away
as extra negatives, so that G learns to draw crisp edges. The recipe, the same in
the author's code and every public port (see RECIPES.md):

    gray = Gray(c);  E = Canny(gray, 100, 200);  M = dilate(E, ones(5, 5))
    c_smooth[M] = (G_5x5 * c)[M];  c_smooth[~M] = c[~M]

where G_5x5 is OpenCV's Gaussian kernel for size 5 (sigma 0 -> 1.1) with
reflect-101 padding. Public versions loop over masked pixels in Python (about
30 minutes per dataset); here it is three OpenCV calls per image. The blur is
computed in float and rounded (the public loops truncate to uint8 instead, a
difference of at most one grey level; the tests measure it).

Three implementations:
- `edge_smooth`: the cached, exact one (NumPy/OpenCV, uint8 HxWx3).
- `gaussian_blur_whole`: post 001's variant (CartoonGAN_modified): the whole
  cartoon Gaussian-blurred.
- `edge_smooth_torch`: on-the-fly for GPU batches with kornia; its Canny
  differs from OpenCV's (see its docstring), so it only approximates the cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class EdgeParams:
    """Parameters of edge promoting; their values key the on-disk cache."""

    mode: str = "edge"  # "edge" (CartoonGAN) | "blur" (post 001, whole image)
    canny_low: int = 100
    canny_high: int = 200
    dilate: int = 5
    kernel: int = 5
    sigma: float = 0.0  # 0: OpenCV's default for the kernel size (1.1 for 5)

    def key(self) -> str:
        return "-".join(f"{k}={v}" for k, v in asdict(self).items())


def _blur(img: np.ndarray, p: EdgeParams) -> np.ndarray:
    blurred = cv2.GaussianBlur(
        img.astype(np.float32), (p.kernel, p.kernel), p.sigma, borderType=cv2.BORDER_REFLECT_101
    )
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


def edge_mask(img: np.ndarray, p: EdgeParams = EdgeParams()) -> np.ndarray:
    """Dilated Canny edges of an RGB uint8 image, as a bool HxW mask."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, p.canny_low, p.canny_high)
    return cv2.dilate(edges, np.ones((p.dilate, p.dilate), np.uint8)) > 0


def edge_smooth(img: np.ndarray, p: EdgeParams = EdgeParams()) -> np.ndarray:
    """Edge-promoted (or, with mode="blur", wholly blurred) copy of an RGB uint8 image."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {img.dtype} {img.shape}")
    if p.mode == "blur":
        return gaussian_blur_whole(img, p)
    if p.mode != "edge":
        raise ValueError(f"unknown smoothing mode {p.mode!r}; use 'edge' or 'blur'")
    mask = edge_mask(img, p)
    return np.where(mask[..., None], _blur(img, p), img)


def gaussian_blur_whole(img: np.ndarray, p: EdgeParams = EdgeParams(mode="blur")) -> np.ndarray:
    """Post 001 (CartoonGAN_modified): the whole cartoon Gaussian-blurred."""
    return _blur(img, p)


def edge_smooth_torch(x: torch.Tensor, p: EdgeParams = EdgeParams()) -> torch.Tensor:
    """Edge promoting of a batch in [-1, 1], `[B, 3, H, W]`, on its own device (kornia).

    kornia's Canny blurs before the Sobel filter and thresholds the L2 gradient
    of [0, 1] images, where OpenCV thresholds the unblurred L1 Sobel of 0..255
    images; the thresholds below are OpenCV's rescaled (100 / (4 * 255) on
    kornia's normalized Sobel). The masks therefore differ at weak edges:
    `benchmarks/edge_smoothing.py` prints the agreement with the cached version.
    """
    import kornia

    if p.mode == "blur":
        return _torch_blur(x, p)
    x01 = (x.float() + 1) / 2
    gray = kornia.color.rgb_to_grayscale(x01)
    scale = 4 * 255.0  # OpenCV's Sobel on 0..255 vs kornia's normalized Sobel on 0..1
    _, edges = kornia.filters.canny(
        gray,
        low_threshold=p.canny_low / scale,
        high_threshold=p.canny_high / scale,
        kernel_size=(3, 3),
        sigma=(0.5, 0.5),
    )
    kernel = torch.ones(p.dilate, p.dilate, device=x.device)
    mask = kornia.morphology.dilation(edges, kernel) > 0
    return torch.where(mask, _torch_blur(x, p), x)


def _torch_blur(x: torch.Tensor, p: EdgeParams) -> torch.Tensor:
    import kornia

    sigma = p.sigma or 0.3 * ((p.kernel - 1) * 0.5 - 1) + 0.8  # OpenCV's rule
    return kornia.filters.gaussian_blur2d(x, (p.kernel, p.kernel), (sigma, sigma), border_type="reflect").to(
        x.dtype
    )
