"""The shipped checkpoint: verified against the registry, and its test accuracy re-measured."""

from __future__ import annotations

import pytest

from course_lib import data, registry
from course_lib.torch_nn import train
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.cnn import FashionCNN


def test_registry_entry_names_the_command_and_metrics():
    entry = registry.checkpoint("cnn")
    assert entry["command"].startswith("COURSE_PROFILE=full python -m course_lib.torch_nn.train")
    assert entry["metrics"]["test_accuracy"] >= 0.93
    assert entry["size"] < 4 * 2**20  # a few MB at most


def test_shipped_checkpoint_meets_the_target():
    """Issue 6: the shipped classifier reaches at least 94 % on the test set."""
    assert registry.checkpoint("cnn")["metrics"]["test_accuracy"] >= 0.94


@pytest.mark.slow
def test_eval_only_re_measures_the_shipped_accuracy(capsys):
    """``--eval-only`` loads the verified checkpoint and evaluates all 10,000 test pictures."""
    model = load_pretrained("cnn")  # checks SHA-256 and size against the registry
    assert isinstance(model, FashionCNN) and not model.training
    try:
        data.load_fashion_mnist("test", download=False)
    except data.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not available here (python -m course_lib.data fetch "
                    "fashion-mnist)")
    assert train.main(["cnn", "--eval-only"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    metrics = dict(pair.split("=") for pair in line.split())
    assert metrics["images"] == "10000"
    registered = registry.checkpoint("cnn")["metrics"]["test_accuracy"]
    # the same weights on another CPU can flip a handful of borderline pictures
    assert float(metrics["test_accuracy"]) == pytest.approx(registered, abs=0.002)
