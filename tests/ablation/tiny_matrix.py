"""A tiny ablation matrix over the real experiment configs, for runner tests."""

from pathlib import Path

EXP = Path(__file__).resolve().parents[2] / "experiments"

TINY = """
config_root: {root}
recipes:
  cyclegan: {{family: cyclegan, configs: [models/cyclegan.yaml]}}
cells:
  cyclegan: {{recipe: cyclegan, note: baseline}}
  cyclegan_no_pool: {{recipe: cyclegan, delta: cells/cyclegan_no_pool.yaml}}
  broken: {{recipe: cyclegan, delta: {broken}}}
tables:
  T6:
    title: tiny
    source: tests
    baseline: cyclegan
    cells: [cyclegan, cyclegan_no_pool]
  TX:
    title: with a broken cell
    source: tests
    baseline: cyclegan
    cells: [cyclegan, broken]
profiles:
  tiny:
    note: tiny test profile
    files: [data/synthetic.yaml, tiny.yaml, {narrow}]
    seeds: [0]
"""

NARROW = """
model:
  init_args:
    generator: {init_args: {ngf: 8, n_blocks: 1}}
    discriminator: {init_args: {ndf: 8, n_layers: 1}}
trainer:
  limit_train_batches: 2
run:
  test_after_fit: true
"""


def write_tiny_matrix(tmp_path: Path, epochs: int = 1) -> Path:
    (tmp_path / "narrow.yaml").write_text(
        NARROW + f"trainer:\n  max_epochs: {epochs}\n  limit_train_batches: 2\n"
    )
    (tmp_path / "broken.yaml").write_text(
        "# Hypothesis: this cell fails\nmodel:\n  init_args:\n    no_such_option: 1\n"
    )
    path = tmp_path / "ablation.yaml"
    path.write_text(TINY.format(root=EXP, broken=tmp_path / "broken.yaml", narrow=tmp_path / "narrow.yaml"))
    return path
