"""fit, evaluate and the command line, on fake data: seeding, resume, step limit, checkpoints."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from course_lib.torch_nn import train
from course_lib.torch_nn.checkpoint import load_checkpoint
from course_lib.torch_nn.cnn import FashionCNN, build_model
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.train import TrainConfig, evaluate, fit, predict, set_seed

CPU = torch.device("cpu")


def tiny_config(**kw) -> TrainConfig:
    base = dict(
        model_kwargs={"width": 4, "hidden": 16, "dropout": 0.3}, epochs=2, batch_size=32,
        lr=0.05, fake_data=True, augment=True, progress=False, label_smoothing=0.1,
    )
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def fake():
    # 160 pictures = 5 steps of 32 per epoch
    return fashion_mnist("train", limit=160, fake=True), fashion_mnist("test", limit=64, fake=True)


def run(cfg: TrainConfig, data, seed_model: int = 0):
    set_seed(seed_model)
    model = build_model(cfg.model, **cfg.model_kwargs)
    history = fit(model, data[0], config=cfg, eval_data=data[1], device=CPU)
    return model, history


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_same_seed_same_weights_and_different_seed_differs(fake):
    a, ha = run(tiny_config(), fake)
    b, hb = run(tiny_config(), fake)
    assert_same_weights(a, b)
    assert ha.loss == hb.loss and len(ha.loss) == 10
    c, _ = run(tiny_config(seed=1), fake)  # another shuffle and augmentation
    assert not torch.equal(weights(a)["classifier.5.weight"], weights(c)["classifier.5.weight"])


def test_history_records_steps_epochs_and_lr(fake):
    _, h = run(tiny_config(), fake)
    assert h.step == list(range(1, 11))
    assert h.epoch == [1, 2] and len(h.test_accuracy) == len(h.test_loss) == len(h.seconds) == 2
    assert all(0.0 <= a <= 1.0 for a in h.test_accuracy)
    # OneCycle: warm-up to the peak lr, then down to far below it
    assert max(h.lr) == pytest.approx(0.05, rel=0.05) and h.lr[-1] < 0.01 and h.lr[0] < 0.01
    assert h.total_seconds == pytest.approx(h.seconds[-1]) and h.images == 10 * 32


@pytest.mark.parametrize("stop", [5, 7])  # at an epoch's end, and in the middle of epoch 2
def test_resumed_run_ends_where_the_uninterrupted_one_does(fake, tmp_path, stop):
    full, h_full = run(tiny_config(), fake)
    _, h_part = run(tiny_config(max_steps=stop, checkpoint_dir=str(tmp_path), checkpoint_every=3),
                    fake)
    assert len(h_part.loss) == stop
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == stop and state["epoch"] == stop // 5
    # a fresh process would rebuild the model from another seed: the checkpoint must override it
    resumed, h_res = run(tiny_config(resume=str(tmp_path / "last.pt")), fake, seed_model=123)
    assert_same_weights(full, resumed)
    assert h_res.loss == h_full.loss and h_res.lr == h_full.lr
    assert h_res.test_accuracy == h_full.test_accuracy and h_res.epoch == h_full.epoch
    assert h_res.train_loss == h_full.train_loss


def test_resume_refuses_another_run(fake, tmp_path):
    run(tiny_config(max_steps=2, checkpoint_dir=str(tmp_path)), fake)
    with pytest.raises(ValueError, match="batch_size: 32 in the checkpoint, 16 now"):
        run(tiny_config(batch_size=16, resume=str(tmp_path / "last.pt")), fake)


def test_periodic_checkpoints_hold_everything_to_resume(fake, tmp_path):
    cfg = tiny_config(max_steps=4, checkpoint_dir=str(tmp_path), checkpoint_every=2)
    model, _ = run(cfg, fake)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "step", "epoch", "config", "extra"} <= set(state)
    assert state["config"]["model_kwargs"] == {"width": 4, "hidden": 16, "dropout": 0.3}
    assert TrainConfig.from_dict(state["config"]) == cfg
    assert {"rng", "history"} <= set(state["extra"])


def test_max_steps_stops_early_without_changing_the_schedule(fake):
    _, h = run(tiny_config(max_steps=3), fake)
    _, h_full = run(tiny_config(), fake)
    assert h.step == [1, 2, 3] and h.epoch == [] and h.lr == h_full.lr[:3]


def test_class_weights_and_other_optimizers(fake):
    for opt in ("adam", "adamw"):
        _, h = run(tiny_config(optimizer=opt, schedule="none", max_steps=2,
                               class_weights=[1.0] * 9 + [5.0], augment=False), fake)
        assert len(h.loss) == 2 and all(np.isfinite(h.loss))
    with pytest.raises(ValueError, match="optimizer"):
        run(tiny_config(optimizer="lbfgs"), fake)


def test_callback_sees_every_step(fake):
    seen = []
    set_seed(0)
    model = FashionCNN(width=4, hidden=16)
    fit(model, fake[0], config=tiny_config(max_steps=3), device=CPU,
        callback=lambda step, m, loss: seen.append((step, m is model, loss)))
    assert [s for s, _, _ in seen] == [1, 2, 3] and all(same for _, same, _ in seen)


def test_evaluate_and_predict_agree(fake):
    model, _ = run(tiny_config(max_steps=2), fake)
    images, labels = fake[1]
    logits = predict(model, images, batch_size=10)
    assert logits.shape == (64, 10) and logits.dtype == np.float32
    res = evaluate(model, images.numpy(), labels.numpy(), batch_size=7)
    assert res["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels.numpy()))
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(logits), labels).item()
    assert res["loss"] == pytest.approx(ref, rel=1e-5)
    assert not model.training


def test_profiles_give_sensible_presets():
    smoke = TrainConfig.for_profile("fashion", "smoke")
    default = TrainConfig.for_profile("fashion", "default")
    full = TrainConfig.for_profile("fashion", "full")
    assert smoke.train_limit is not None and default.train_limit is None
    assert full.epochs > default.epochs
    assert full.model_kwargs["width"] >= default.model_kwargs["width"]
    assert full.augment and full.augment_kwargs
    assert TrainConfig.for_profile("simple", "smoke").model == "simple"
    with pytest.raises(ValueError, match="profile"):
        TrainConfig.for_profile("fashion", "huge")


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------


def last_line_metrics(out: str) -> dict[str, str]:
    line = out.strip().splitlines()[-1]
    return dict(pair.split("=", 1) for pair in line.split())


def test_cli_trains_saves_and_evaluates(tmp_path, capsys):
    argv = ["cnn", "--profile", "smoke", "--fake-data", "--max-steps", "3", "--out",
            str(tmp_path), "--no-progress", "--seed", "3", "--batch-size", "16", "--lr", "0.01"]
    assert train.main(argv) == 0
    m = last_line_metrics(capsys.readouterr().out)
    assert list(m) == ["test_accuracy", "test_loss", "steps", "seconds", "images_per_second"]
    assert m["steps"] == "3" and 0 <= float(m["test_accuracy"]) <= 1
    final = tmp_path / train.FINAL_NAME
    state = load_checkpoint(final)
    assert "optimizer" not in state and state["config"]["seed"] == 3
    assert state["config"]["batch_size"] == 16 and state["config"]["lr"] == 0.01
    assert state["metrics"]["test_accuracy"] == pytest.approx(float(m["test_accuracy"]), abs=1e-4)

    assert train.main(["cnn", "--eval-only", "--checkpoint", str(final), "--fake-data"]) == 0
    m2 = last_line_metrics(capsys.readouterr().out)
    assert m2["test_accuracy"] == m["test_accuracy"] and m2["images"] == "1000"

    # resume from the periodic checkpoint and go on to step 5
    argv_resume = [*argv[:5], "5", "--out", str(tmp_path / "b"), "--resume",
                   str(tmp_path / "last.pt"), "--no-progress", "--seed", "3", "--batch-size", "16",
                   "--lr", "0.01"]
    assert train.main(argv_resume) == 0
    assert last_line_metrics(capsys.readouterr().out)["steps"] == "5"


def test_cli_options_reach_the_config():
    args = train.build_parser().parse_args(
        ["cnn", "--profile", "default", "--epochs", "7", "--no-augment", "--compile",
         "--width", "12", "--model", "fashion", "--max-steps", "9"])
    cfg = train.cnn_config(args)
    assert cfg.epochs == 7 and not cfg.augment and cfg.compile and cfg.max_steps == 9
    assert cfg.model_kwargs["width"] == 12
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(["gan"])  # not registered (yet)


def test_tasks_registry_rejects_duplicates():
    assert "cnn" in train.TASKS
    with pytest.raises(ValueError, match="already registered"):
        train.register_task(train.TASKS["cnn"])


def test_format_metrics():
    line = train.format_metrics({"test_accuracy": 0.93456, "steps": 12, "seconds": 3.21})
    assert line == "test_accuracy=0.9346 steps=12 seconds=3.2"


@pytest.mark.skipif(os.environ.get("COURSE_TEST_COMPILE") != "1",
                    reason="torch.compile needs a C++ compiler and ~30 s; "
                    "set COURSE_TEST_COMPILE=1 to run it")
def test_compile_runs(fake):
    _, h = run(tiny_config(max_steps=2, compile=True), fake)
    assert len(h.loss) == 2


# ---------------------------------------------------------------------------
# Nonsense on the command line: one line and exit status 2; a diverging run stops
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["cnn", "--max-steps", "0"], "--max-steps: must be >= 1, got 0"),
    (["cnn", "--max-steps", "-1"], "--max-steps: must be >= 1, got -1"),
    (["cnn", "--epochs", "0"], "--epochs: must be >= 1"),
    (["cnn", "--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
    (["cnn", "--lr", "0"], "--lr: must be a finite number > 0"),
    (["cnn", "--width", "0"], "--width: must be >= 1"),
    (["cnn", "--batch-size", "two"], "--batch-size: expected an integer, got 'two'"),
    (["cnn", "--device", "tpu"], "--device: expected cpu, cuda, cuda:N or mps, got 'tpu'"),
    (["dcgan", "--lr-d", "inf"], "--lr-d: must be a finite number > 0"),
    (["vae", "--beta", "-1"], "--beta: must be a finite number >= 0"),
    (["pix2pix", "--gan-weight", "-0.5"], "--gan-weight: must be a finite number >= 0"),
    (["denoise", "--depth", "0"], "--depth: must be >= 1"),
])
def test_nonsense_options_are_one_line_and_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_zero_is_allowed_where_it_means_none():
    args = train.build_parser().parse_args(["vae", "--warmup-steps", "0", "--free-bits", "0"])
    assert args.warmup_steps == 0 and args.free_bits == 0.0
    assert train.build_parser().parse_args(["denoise", "--patches", "0"]).patches == 0


def test_a_device_that_is_absent_and_an_option_that_does_not_apply_are_one_line(capsys):
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as exc:
            train.main(["cnn", "--device", "cuda", "--fake-data", "--max-steps", "1"])
        assert exc.value.code == 2 and "CUDA is not available" in capsys.readouterr().err
    code = train.main(["vae", "--model", "mlp", "--width", "8", "--fake-data", "--max-steps", "1",
                       "--profile", "smoke", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--width does not apply to the mlp VAE" in err and "Traceback" not in err


def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(fake, tmp_path):
    from course_lib.torch_nn.loop import TrainingDiverged

    cfg = tiny_config(checkpoint_dir=str(tmp_path), checkpoint_every=3, epochs=1)
    calls = {"n": 0}

    def poison(step, model, loss):  # after step 4, every weight is NaN: step 5's loss is NaN
        if step == 4:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))

    set_seed(0)
    model = build_model(cfg.model, **cfg.model_kwargs)
    with pytest.raises(TrainingDiverged, match=r"became nan at step 5.*last\.pt"):
        fit(model, fake[0], config=cfg, device=CPU, callback=poison)
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 3  # the checkpoint of step 3, written before the loss went bad
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())
    del calls
