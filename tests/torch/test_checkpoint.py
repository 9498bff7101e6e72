"""Checkpoints: round trip with weights_only, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import copy
import hashlib

import pytest
import torch

from course_lib import registry
from course_lib.torch_nn.checkpoint import (
    CheckpointError,
    digest_path,
    load_checkpoint,
    load_model,
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


# ---------------------------------------------------------------------------
# One error type for every bad file, and digests checked by default (issue 16, section 2)
# ---------------------------------------------------------------------------


def _record(path):
    """Write the digest file save_checkpoint would have written, for a hand-made checkpoint."""
    digest_path(path).write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")


def test_save_records_the_digest_and_load_checks_it(saved):
    path = saved[0]
    recorded = digest_path(path).read_text().split()
    assert recorded == [hashlib.sha256(path.read_bytes()).hexdigest(), path.name]
    load_checkpoint(path)  # verified against the recorded digest
    digest_path(path).unlink()
    with pytest.raises(CheckpointError, match="no recorded digest"):
        load_checkpoint(path)
    assert load_checkpoint(path, verify=False)["step"] == 1


def test_every_single_byte_flip_is_refused(saved):
    path = saved[0]
    good = path.read_bytes()
    for offset in range(0, len(good), max(1, len(good) // 40)):
        bad = bytearray(good)
        bad[offset] ^= 0xFF
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match=str(path)):
            load_checkpoint(path)
    path.write_bytes(good)
    load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"model: 1\nconfig: 2\n", b"\x00" * 64])
def test_empty_text_and_zero_files_raise_checkpoint_error(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    _record(path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_model(path)


@pytest.mark.parametrize("change, message", [
    ({"model": [1, 2]}, "'model' must be a state dict"),
    ({"model": None}, "'model' must be a state dict"),
    ({"config": ["fashion"]}, "'config' must be a dict"),
    ({"config": {"model": "fashion", "model_kwargs": [4]}}, "'config' must be a dict"),
    ({"optimizer": [0.1]}, "'optimizer' must be a dict"),
    ({"step": "3"}, "'step' must be an int"),
])
def test_keys_of_the_wrong_type_raise_checkpoint_error(saved, change, message):
    path = saved[0]
    state = torch.load(path, weights_only=True)
    state.update(change)
    torch.save(state, path)
    _record(path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_states_that_do_not_fit_raise_checkpoint_error(saved):
    path, model, opt, _ = saved
    state = torch.load(path, weights_only=True)
    state["optimizer"] = {"state": {}, "param_groups": "sgd"}
    torch.save(state, path)
    _record(path)
    with pytest.raises(CheckpointError, match="optimizer state does not fit SGD"):
        load_checkpoint(path, model=model, optimizer=opt)
    state["config"] = {"model": "no-such-model", "model_kwargs": {}}
    torch.save(state, path)
    _record(path)
    with pytest.raises(CheckpointError, match="does not rebuild its model"):
        load_model(path)
    state["config"] = {"model": "fashion", "model_kwargs": {"width": "four"}}
    torch.save(state, path)
    _record(path)
    with pytest.raises(CheckpointError, match="does not rebuild its model"):
        load_model(path)


def test_load_model_rebuilds_and_shipped_files_verify_against_the_registry(saved):
    path, model, _, _ = saved
    rebuilt, state = load_model(path)
    assert isinstance(rebuilt, FashionCNN) and not rebuilt.training and state["step"] == 1
    for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    shipped = registry.verify_checkpoint("cnn")
    assert not digest_path(shipped).exists()
    assert load_checkpoint(shipped)["config"]["model"]  # the registry's digest is the record


def test_the_command_line_says_one_line_for_a_bad_checkpoint(tmp_path, capsys):
    from course_lib.torch_nn import train

    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    assert train.main(["cnn", "--eval-only", "--checkpoint", str(path), "--fake-data"]) == 2
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and str(path) in err and "Traceback" not in err
    code = train.main(["cnn", "--fake-data", "--max-steps", "1", "--resume", str(path),
                       "--profile", "smoke", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read checkpoint" in err and "Traceback" not in err
