"""Translate a video frame by frame, streaming: constant memory, frame rate and audio kept.

Decoding and encoding go through PyAV (`pip install av`: its wheels bundle FFmpeg and
its codecs, x264 included). Frames are decoded one at a time, translated like a still
image (`inference.translate_at`: the training scale, tiles for large frames) and encoded
with H.264 (`libx264`, yuv420p, CRF 18) at the input's frame rate and time base; audio
packets are copied unchanged (no re-encoding) when the output container takes the codec.
The output is written to a temporary file beside the target and renamed over it at the
end, so an interrupted run leaves no half-written video.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from cartoonlab.data.transforms import to_tensor, to_uint8_hwc
from cartoonlab.utils import replacing

SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def translate_video(
    net: nn.Module,
    src: str | Path,
    dst: str | Path,
    translate: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    device: str = "cpu",
    progress: bool = True,
) -> int:
    """Translate every frame of `src` into `dst` with `translate(net, x)` (x: `[1, 3, H, W]`
    in [-1, 1]); the number of frames written."""
    try:
        import av
    except ImportError as e:
        raise ImportError("video needs PyAV: pip install av") from e
    src, dst = Path(src), Path(dst)
    if not is_video(dst):
        raise ValueError(f"{dst}: a video output must end in one of {', '.join(sorted(SUFFIXES))}")
    if dst.resolve() == src.resolve():
        raise ValueError(f"output {dst} is the input file; choose another name")
    if not src.is_file():
        raise FileNotFoundError(2, "No such file", str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(dst, dst.suffix) as tmp, av.open(str(src)) as inp:  # the container by its suffix
            if not inp.streams.video:
                raise ValueError(f"{src} has no video stream")
            n = _encode(av, inp, tmp, net, translate, device, progress)
    except av.error.FFmpegError as e:
        raise ValueError(f"{src}: cannot be decoded or encoded as video ({e})") from e
    return n


def _encode(av, inp, tmp: Path, net, translate, device, progress) -> int:
    from tqdm import tqdm

    vin = inp.streams.video[0]
    ain = inp.streams.audio[0] if inp.streams.audio else None
    with av.open(str(tmp), "w") as out:
        vout = out.add_stream("libx264", rate=vin.average_rate or 25, options={"crf": "18"})
        vout.width, vout.height = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
        vout.pix_fmt, vout.time_base = "yuv420p", vin.time_base
        aout = out.add_stream_from_template(ain) if ain is not None else None
        bar = tqdm(total=vin.frames or None, unit="frame", disable=not progress, desc="cartoonize")
        n = 0
        for packet in inp.demux(*(s for s in (vin, ain) if s is not None)):
            if packet.stream is ain:
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                rgb = frame.to_ndarray(format="rgb24")[: vout.height, : vout.width]
                y = translate(net, to_tensor(rgb).unsqueeze(0).to(device))
                new = av.VideoFrame.from_ndarray(to_uint8_hwc(y[0].cpu()), format="rgb24")
                new.pts, new.time_base = frame.pts, frame.time_base
                out.mux(vout.encode(new))
                n += 1
                bar.update(1)
        out.mux(vout.encode(None))  # flush
        bar.close()
    return n
