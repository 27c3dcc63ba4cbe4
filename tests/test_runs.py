"""Run bookkeeping: the CSV logger's handling of an existing run directory, and W&B's
fallback to offline when its server cannot be reached, and the progress file."""

import http.server
import os
import socket
import threading
import time
import warnings

import lightning as L
import pytest
import torch

from cartoonlab.runs import (
    PROGRESS,
    Progress,
    RunConfig,
    make_loggers,
    progress_line,
    read_progress,
    wandb_reachable,
)

STALE = "Experiment logs directory"


def _loggers(tmp_path, resume):
    run = RunConfig(name="r", root=str(tmp_path), wandb="disabled")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (logger,) = make_loggers(run, resume=resume)
        logger.experiment  # noqa: B018  # created as the Trainer creates it
    return run, logger, [str(w.message) for w in caught if STALE in str(w.message)]


def test_a_fresh_run_directory_with_only_its_config_gives_no_deletion_warning(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.yaml").write_text("seed_everything: 0\n")
    _, _, stale = _loggers(tmp_path, resume=False)
    assert stale == []


def test_a_fresh_run_over_an_earlier_runs_metrics_warns_and_a_resumed_one_keeps_them(tmp_path):
    (tmp_path / "r").mkdir()
    rows = "epoch,val/fid\n0,300.0\n"
    (tmp_path / "r" / "metrics.csv").write_text(rows)
    run, logger, stale = _loggers(tmp_path, resume=True)
    assert stale == [] and (run.dir / "metrics.csv").read_text() == rows
    logger.log_metrics({"val/fid": 250.0, "epoch": 1}, step=1)
    logger.save()
    kept = (run.dir / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[-1] for line in kept[1:]] == ["300.0", "250.0"]  # appended, not replaced
    _, _, stale = _loggers(tmp_path, resume=False)
    assert len(stale) == 1  # true this time: the earlier rows go


def _silent_server():
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_an_unreachable_wandb_server_falls_back_to_offline_within_the_timeout(server, tmp_path, monkeypatch):
    """`--run.wandb online` with credentials but no server: one warning, offline logging,
    within `run.wandb_timeout` seconds (a closed port, and one that never answers)."""
    if server == "silent":
        held = _silent_server()
        port = held.getsockname()[1]
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: connections are refused
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run = RunConfig(name="r", root=str(tmp_path), wandb="online", wandb_timeout=1.0)
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        csv_logger, wandb_logger = make_loggers(run)
    assert time.monotonic() - start < 5
    fallback = [str(w.message) for w in caught if "W&B" in str(w.message)]
    assert len(fallback) == 1 and f"127.0.0.1:{port}" in fallback[0] and "offline" in fallback[0]
    assert wandb_logger._offline and os.environ["WANDB_MODE"] == "offline"


def test_a_wandb_server_that_answers_is_used_online(tmp_path, monkeypatch):
    """Any HTTP answer (here a 404) counts as reachable: no fallback."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        assert wandb_reachable(2.0)
    finally:
        server.shutdown()


class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def training_step(self, batch, batch_idx):
        return (self.w * batch[0]).sum()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(6, 1)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_progress_is_written_and_printed_when_the_bar_is_off(tmp_path, capsys):
    """`Progress`: progress.json after every batch (every_s=0) ends at 100 % of the last
    epoch, and with the progress bar off the same is printed as lines."""
    trainer = L.Trainer(
        max_epochs=2,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[Progress(tmp_path, every_s=0, print_every_s=0)],
    )
    trainer.fit(_Tiny())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert lines[0].startswith("epoch 1/2, batch 1/3 (17%)") and "ETA" in lines[0]
    assert lines[-1].startswith("epoch 2/2, batch 3/3 (100%)")
    final = read_progress(tmp_path)
    assert final["percent"] == 100 and final["eta_s"] == 0 and progress_line(final) == lines[-1]
    assert read_progress(tmp_path, fresh_s=60) is not None
    os.utime(tmp_path / PROGRESS, (time.time() - 600, time.time() - 600))
    assert read_progress(tmp_path, fresh_s=60) is None, "an old progress file is not a running run"
