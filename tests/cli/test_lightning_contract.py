"""CartoonLabCLI builds on LightningCLI's public hooks only, so a new Lightning release
cannot change what `fit` does behind the tests' back (pyproject pins the major version)."""

import inspect

from lightning.pytorch.cli import LightningCLI

from cartoonlab.cli.train import CartoonLabCLI


def _own_methods(cls):
    return {name for name, value in vars(cls).items() if inspect.isfunction(value)}


def test_the_cli_overrides_no_private_lightning_method():
    lightning = {name for name in dir(LightningCLI) if callable(getattr(LightningCLI, name))}
    overridden = _own_methods(CartoonLabCLI) & lightning
    private = {name for name in overridden if name.startswith("_") and not name.startswith("__")}
    assert not private, f"private LightningCLI methods overridden: {sorted(private)}"
    assert {"parse_arguments", "before_instantiate_classes", "instantiate_trainer"} <= overridden


def test_every_overridden_hook_keeps_lightnings_signature():
    for name in _own_methods(CartoonLabCLI) & set(dir(LightningCLI)):
        if name == "__init__":
            continue  # forwards *args, **kwargs
        ours = list(inspect.signature(getattr(CartoonLabCLI, name)).parameters)
        theirs = list(inspect.signature(getattr(LightningCLI, name)).parameters)
        assert ours == theirs, f"{name}: {ours} vs Lightning's {theirs}"
