"""The layer rule of docs/contributing.md, enforced: a module imports only from its own
layer or lower ones (every import, also inside functions)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cartoonlab"
LAYERS = [
    {"__init__", "utils", "safe_load"},  # no cartoonlab imports of weight
    {"data", "nets", "losses", "augment", "metrics", "tiles", "exported"},  # the research core's parts
    {"runs", "checkpointing", "distributed"},  # run bookkeeping (Lightning callbacks and IO)
    {"systems"},  # the LightningModules
    {"callbacks", "inference", "released"},  # evaluation; using a trained generator
    {"export", "video"},
    {"ablation", "survey"},
    {"cli", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
# the fairness audit resolves every run with the CLI's own parser, exactly as `fit` does
ALLOWED = {("ablation/fairness.py", "cartoonlab.cli.train")}


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cartoonlab."):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("cartoonlab.")]
    return found


def test_every_module_imports_downwards_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        me = rel.with_suffix("").parts[0]
        assert me in LAYER, f"{rel}: add its top-level name to a layer of tests/test_layers.py"
        for name in imports(path):
            other = name.split(".")[1]
            if LAYER[other] > LAYER[me] and (rel.as_posix(), name) not in ALLOWED:
                upward.append(f"{rel} imports {name}")
    assert upward == []


def test_the_rule_catches_an_upward_import(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("def f():\n    from cartoonlab.inference import translate_at\n")
    assert imports(planted) == ["cartoonlab.inference"] and LAYER["inference"] > LAYER["systems"]
