"""Checkpoints: round trip with weights_only, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import copy
import hashlib

import pytest
import torch

from course_lib import registry
from course_lib.torch_nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
    unwrap,
)
from course_lib.torch_nn.cnn import FashionCNN, SimpleCNN

CONFIG = {"model": "fashion", "model_kwargs": {"width": 4, "hidden": 8}, "lr": 0.1, "seed": 0}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = FashionCNN(width=4, hidden=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    opt.step()
    sched.step()
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", model=model, optimizer=opt, scheduler=sched,
                           step=1, epoch=0, config=CONFIG, metrics={"test_accuracy": 0.5},
                           extra={"rng": {"torch": torch.get_rng_state()}})
    return path, model, opt, sched


def test_round_trip(saved):
    path, model, opt, sched = saved
    assert path.exists() and not list(path.parent.glob("*.tmp"))  # no temporary left behind
    torch.load(path, weights_only=True)  # plain types only
    model2 = FashionCNN(width=4, hidden=8)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.OneCycleLR(opt2, max_lr=0.1, total_steps=10)
    state = load_checkpoint(path, model=model2, optimizer=opt2, scheduler=sched2,
                            sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert state["step"] == 1 and state["config"] == CONFIG
    assert state["metrics"]["test_accuracy"] == 0.5
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert sched2.state_dict() == sched.state_dict()
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_truncated_file_names_the_file(saved):
    path = saved[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_garbage_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=str(junk)):
        load_checkpoint(junk)
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(CheckpointError, match="not a course checkpoint"):
        load_checkpoint(tensor_only)
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_checkpoint(tmp_path / "absent.pt")


class Payload:
    """An arbitrary object: what weights_only refuses to unpickle."""


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_wrong_architecture_says_what_was_saved(saved):
    path = saved[0]
    with pytest.raises(CheckpointError, match="does not fit FashionCNN") as err:
        load_checkpoint(path, model=FashionCNN(width=8, hidden=8))
    assert str(path) in str(err.value) and "'width': 4" in str(err.value)
    with pytest.raises(CheckpointError, match="does not fit SimpleCNN"):
        load_checkpoint(path, model=SimpleCNN())


def test_wrong_digest_names_expected_and_actual(saved):
    path = saved[0]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, sha256="0" * 64)
    assert "0" * 64 in str(err.value) and actual in str(err.value) and str(path) in str(err.value)


def test_missing_optimizer_state(tmp_path):
    model = SimpleCNN()
    path = save_checkpoint(tmp_path / "m.pt", model=model, step=0, epoch=0,
                           config={"model": "simple"})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, model=model, optimizer=opt)


def test_unwrap_compiled_and_plain():
    model = SimpleCNN()
    assert unwrap(model) is model

    class Wrapper(torch.nn.Module):  # how DistributedDataParallel holds the model
        def __init__(self, m):
            super().__init__()
            self.module = m

    assert unwrap(Wrapper(model)) is model


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A registry whose checkpoint 'cnn' is a small model saved in tmp_path."""
    torch.manual_seed(0)
    model = FashionCNN(width=4, hidden=8).eval()
    path = save_checkpoint(tmp_path / "cnn.pt", model=model, step=3, epoch=1, config=CONFIG,
                           metrics={"test_accuracy": 0.1})
    data = path.read_bytes()
    reg = copy.deepcopy(registry.load_registry())
    reg["checkpoints"]["cnn"] = {
        "path": "cnn.pt", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "licence": "MIT", "source": "test", "command": "test", "metrics": {"test_accuracy": 0.1},
    }
    monkeypatch.setattr(registry, "load_registry", lambda: reg)
    return path, model


def test_load_pretrained_rebuilds_and_verifies(shipped, tmp_path):
    path, model = shipped
    loaded = load_pretrained("cnn", directory=tmp_path)
    assert isinstance(loaded, FashionCNN) and not loaded.training
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="shipped checkpoint 'cnn'.*checksum mismatch"):
        load_pretrained("cnn", directory=tmp_path)
