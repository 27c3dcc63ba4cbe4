"""`cartoonize in.mp4 out.mp4`: every frame translated, frame rate, duration and audio kept."""

import numpy as np
import pytest
import torch

from cartoonlab.cli import EXIT_USER, main
from cartoonlab.nets.generators import ResnetGenerator

av = pytest.importorskip("av")


def _clip(path, frames=10, fps=12, size=(48, 32)):
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = *size, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        for i in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:, : 4 * i] = 200  # a bar that grows: every frame differs
            out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        t = np.arange(int(16000 * frames / fps), dtype=np.float32) / 16000
        tone = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32), format="fltp", layout="mono"
        )
        tone.sample_rate = 16000
        out.mux(a.encode(tone))
        out.mux(a.encode(None))
        out.mux(v.encode(None))
    return path


def _ckpt(path):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1)
    torch.save(
        {
            "state_dict": {f"G.{k}": v for k, v in net.state_dict().items()},
            "cartoonlab": {"generator": net.config, "work_side": 16},
        },
        path,
    )
    return path


def _run(capsys, *argv):
    code = main(["cartoonize", *argv])
    return code, capsys.readouterr()


def test_video_is_translated_frame_by_frame_keeping_rate_and_audio(tmp_path, capsys):
    src, ckpt = _clip(tmp_path / "in.mp4"), _ckpt(tmp_path / "g.ckpt")
    code, io = _run(capsys, "--ckpt", str(ckpt), str(src), str(tmp_path / "out.mp4"))
    assert code == 0 and "wrote 10 frame(s)" in io.out, io.err
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        assert b.streams.video[0].average_rate == a.streams.video[0].average_rate == 12
        assert (b.streams.video[0].width, b.streams.video[0].height) == (48, 32)
        assert [s.codec_context.name for s in b.streams.audio] == ["aac"]
        assert abs(b.duration - a.duration) < 0.1 * a.duration
        frames_in = [f.to_ndarray(format="rgb24") for f in a.decode(video=0)]
        frames_out = [f.to_ndarray(format="rgb24") for f in b.decode(video=0)]
    assert len(frames_out) == len(frames_in) == 10
    assert np.abs(frames_out[0].astype(int) - frames_in[0]).mean() > 10, "translated, not copied"
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file left"


def test_bad_videos_and_options_are_one_line_errors(tmp_path, capsys):
    ckpt = _ckpt(tmp_path / "g.ckpt")
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    code, io = _run(capsys, "--ckpt", str(ckpt), str(tmp_path / "broken.mp4"), str(tmp_path / "o.mp4"))
    assert code == EXIT_USER and "cannot be decoded" in io.err.strip().splitlines()[-1]
    assert not (tmp_path / "o.mp4").exists()
    src = _clip(tmp_path / "in.mp4", frames=2)
    code, io = _run(capsys, "--ckpt", str(ckpt), "--max-side", "16", str(src), str(tmp_path / "o.mp4"))
    assert code == EXIT_USER and "--max-side applies to images" in io.err
    code, io = _run(capsys, "--ckpt", str(ckpt), str(src), str(tmp_path / "o.png"))
    assert code == EXIT_USER and "a video output must end in" in io.err
