"""Run bookkeeping: the CSV logger's handling of an existing run directory."""

import warnings

from cartoonlab.runs import RunConfig, make_loggers

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
