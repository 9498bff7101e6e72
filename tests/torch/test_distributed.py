"""Two CPU processes under torchrun (gloo): the replicas stay identical and only rank 0 reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


FIRST_METRIC = {"cnn": "test_accuracy=", "dcgan": "fd=", "cgan": "fd=", "vae": "test_neg_elbo=",
                "fast-style": "test_fast_loss=", "denoise": "test_psnr_15=", "sr2x": "test_psnr=",
                "pix2pix": "test_l1="}
FINAL_FILE = {"fast-style": "fast-style.pt", "denoise": "denoiser.pt", "sr2x": "sr2x.pt",
              "pix2pix": "pix2pix.pt"}  # the others: <task>-fashion-mnist.pt
# enough crops for 3 steps of 2 x 16 pictures, and a short Gatys comparison
EXTRA = {"fast-style": ["--crops", "120", "--gatys-steps", "2"]}


@pytest.mark.slow
@pytest.mark.parametrize("task", ["cnn", "dcgan", "cgan", "vae", "fast-style", "denoise", "sr2x",
                                  "pix2pix"])
def test_torchrun_two_cpu_processes_keep_identical_replicas(task, tmp_path):
    """For the GANs, both players are wrapped, and D runs twice per step (real, fake, then G's)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "COURSE_PROFILE": "smoke", "COURSE_DEVICE": "cpu"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "course_lib.torch_nn.train", task, "--fake-data", "--max-steps", "3",
           "--batch-size", "16", "--out", str(tmp_path), "--write-param-digests", "--no-progress",
           *EXTRA.get(task, [])]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = [(tmp_path / f"params-rank{r}.sha256").read_text().strip() for r in (0, 1)]
    assert len(digests[0]) == 64 and digests[0] == digests[1]
    metric_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(FIRST_METRIC[task])]
    assert len(metric_lines) == 1, proc.stdout  # only rank 0 prints
    assert "steps=3" in metric_lines[0]
    # 2 processes x 16 pictures per step: the images/s figure counts both
    final = FINAL_FILE.get(task, f"{task}-fashion-mnist.pt")
    assert (tmp_path / final).exists() and (tmp_path / "last.pt").exists()
    assert "2 process(es)" in proc.stderr

