"""Benchmark: the NumPy conv2d (forward + backward) against torch on the CPU.

    python benchmarks/bench_conv.py [--json PATH] [--repeats N] [--threads T]

Fixed problem: x (64, 32, 28, 28), w (64, 32, 3, 3), padding 1, float32: a
mid-sized layer of the chapter-5 CNN. Both sides run forward + backward on the
same arrays with the threads they get by default, timed in alternating blocks
of runs (see ``_time_in_blocks``); the best of ``--repeats`` is reported, and
the median. For scale, the same run measures NumPy's float32 matmul on a
2048 x 2048 product, the ceiling any im2col convolution can approach, and the
naive loops of ``conv2d_naive`` against the vectorised forward on a small batch.
``--threads T`` limits both sides to T threads (torch.set_num_threads and,
through threadpoolctl, NumPy's BLAS): on a machine shared with other jobs a
one-thread comparison is far less disturbed than a two-thread one.
See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from collections.abc import Callable, Iterator
from datetime import date

import numpy as np
import torch
from common import write_results

from course_lib.numpy_nn.functional import conv2d_backward, conv2d_forward, conv2d_naive

N, C, F, H, W, K, PAD = 64, 32, 64, 28, 28, 3, 1


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _summary(times: list[float], flops: float) -> dict[str, float]:
    best, median = min(times), float(np.median(times))
    return {
        "best_s": best,
        "median_s": median,
        "gflops_best": flops / best / 1e9,
        "gflops_median": flops / median / 1e9,
    }


def _time_in_blocks(
    fns: list[Callable[[], object]], repeats: int, blocks: int = 5
) -> list[list[float]]:
    """``repeats`` timings of each function, taken in ``blocks`` alternating blocks.

    Not call by call: OpenBLAS's and torch's worker threads keep spinning for a
    while after each call, so a torch call right after a NumPy one shares its
    cores with idle-spinning BLAS threads (measured here: 68 ms instead of
    39 ms). Each block starts after a pause and two warm-up calls; alternating
    the blocks spreads any background load over both sides.
    """
    times: list[list[float]] = [[] for _ in fns]
    per_block = max(1, -(-repeats // blocks))  # ceil
    for _ in range(blocks):
        for fn, acc in zip(fns, times, strict=True):
            time.sleep(0.5)  # let the other library's threads go to sleep
            fn()
            fn()
            acc.extend(_time(fn) for _ in range(per_block))
    return times


def bench_conv(repeats: int, rng: np.random.Generator) -> dict[str, object]:
    """NumPy vs torch, forward + backward, timed in alternating blocks."""
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((F, C, K, K), dtype=np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    dout = rng.standard_normal((N, F, H, W), dtype=np.float32)  # H' = H with padding 1
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dout_t = torch.from_numpy(dout)

    def numpy_step() -> None:
        _, cache = conv2d_forward(x, w, b, padding=PAD)
        conv2d_backward(dout, cache)

    def torch_step() -> None:
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, padding=PAD).backward(dout_t)

    # The two sides must agree before their speeds are worth comparing.
    out, cache = conv2d_forward(x, w, b, padding=PAD)
    dx, dw, db = conv2d_backward(dout, cache)
    torch_step()
    out_t = torch.nn.functional.conv2d(xt, wt, bt, padding=PAD).detach().numpy()
    for got, want in ((out, out_t), (dx, xt.grad), (dw, wt.grad), (db, bt.grad)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-3, atol=1e-2)

    t_np, t_torch = _time_in_blocks([numpy_step, torch_step], repeats)
    # fwd, dx and dw are each one (N*H'*W') x (C*KH*KW) x F product: 2 flops per multiply-add
    flops = 3 * 2 * N * F * C * K * K * H * W
    np_stats, torch_stats = _summary(t_np, flops), _summary(t_torch, flops)
    return {
        "shape": {"x": [N, C, H, W], "w": [F, C, K, K], "padding": PAD, "dtype": "float32"},
        "flops_fwd_bwd": flops,
        "numpy": np_stats,
        "torch": torch_stats,
        "ratio_best": np_stats["best_s"] / torch_stats["best_s"],
        "ratio_median": np_stats["median_s"] / torch_stats["median_s"],
    }


def bench_matmul(repeats: int, rng: np.random.Generator, n: int = 2048) -> dict[str, float]:
    """NumPy float32 matmul on an n x n product: what BLAS reaches on this machine."""
    a = rng.standard_normal((n, n), dtype=np.float32)
    bm = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, bm, out=out)
    times = [_time(lambda: np.matmul(a, bm, out=out)) for _ in range(repeats)]
    return {"n": n, **_summary(times, 2 * n**3)}


def bench_naive(rng: np.random.Generator, n: int = 2) -> dict[str, float]:
    """conv2d_naive vs conv2d_forward on the benchmark layer with a batch of ``n``.

    The same shape on both sides (no extrapolation); forward only, since the
    naive version has no backward.
    """
    x = rng.standard_normal((n, C, H, W), dtype=np.float32)
    w = rng.standard_normal((F, C, K, K), dtype=np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    t_naive = _time(lambda: conv2d_naive(x, w, b, padding=PAD))
    conv2d_forward(x, w, b, padding=PAD)
    t_vec = min(_time(lambda: conv2d_forward(x, w, b, padding=PAD)) for _ in range(50))
    outputs = n * F * H * W
    return {
        "batch": n,
        "naive_s": t_naive,
        "vectorised_s": t_vec,
        "speedup": t_naive / t_vec,
        "naive_us_per_output": t_naive / outputs * 1e6,
    }


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Both libraries on ``n`` threads (no change when ``None``)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # only needed here (test extra)

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write all figures to this JSON file")
    parser.add_argument("--markdown", help="also write a table for the benchmarks appendix")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, help="threads for both sides (default: theirs)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    with _threads(args.threads):
        threads = torch.get_num_threads()
        conv = bench_conv(args.repeats, rng)
        matmul = bench_matmul(args.repeats, rng)
        naive = bench_naive(rng)
    results = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": threads,
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
        "conv": conv,
        "matmul": matmul,
        "naive": naive,
    }

    npc, tc = conv["numpy"], conv["torch"]
    print(f"conv2d fwd+bwd  x {tuple(conv['shape']['x'])}  w {tuple(conv['shape']['w'])}  float32")
    print(
        f"  numpy   {npc['best_s'] * 1e3:7.1f} ms (median {npc['median_s'] * 1e3:6.1f})  "
        f"{npc['gflops_best']:6.1f} GFLOP/s"
    )
    print(
        f"  torch   {tc['best_s'] * 1e3:7.1f} ms (median {tc['median_s'] * 1e3:6.1f})  "
        f"{tc['gflops_best']:6.1f} GFLOP/s   ({threads} threads)"
    )
    print(
        f"  ratio numpy/torch  {conv['ratio_best']:.2f} (best)  {conv['ratio_median']:.2f} (median)"
    )
    print(
        f"numpy matmul {matmul['n']}^2 float32  {matmul['gflops_best']:6.1f} GFLOP/s "
        f"(median {matmul['gflops_median']:.1f})"
    )
    print(
        f"naive loops, batch {naive['batch']}: {naive['naive_s']:.2f} s vs "
        f"{naive['vectorised_s'] * 1e3:.2f} ms vectorised: {naive['speedup']:.0f}x "
        f"({naive['naive_us_per_output']:.1f} us per output)"
    )
    write_results(args, results, to_markdown)
    return results


def to_markdown(results: dict) -> str:
    """The figures of one run as the Markdown the benchmarks appendix includes."""
    conv, matmul, naive, machine = (
        results["conv"], results["matmul"], results["naive"], results["machine"]
    )
    npc, tc = conv["numpy"], conv["torch"]
    rows = [
        "| | time, best (median) | GFLOP/s, best |",
        "|---|---|---|",
        f"| NumPy `conv2d_forward` + `conv2d_backward` | {npc['best_s'] * 1e3:.1f} ms "
        f"({npc['median_s'] * 1e3:.1f} ms) | {npc['gflops_best']:.0f} |",
        f"| torch `F.conv2d` forward + backward | {tc['best_s'] * 1e3:.1f} ms "
        f"({tc['median_s'] * 1e3:.1f} ms) | {tc['gflops_best']:.0f} |",
        f"| NumPy float32 matmul {matmul['n']}×{matmul['n']} | | {matmul['gflops_best']:.0f} |",
    ]
    return (
        f"Measured with `make bench` on {date.today().isoformat()}: {machine['processor']}, "
        f"{machine['threads']} threads, NumPy {machine['numpy']}, torch {machine['torch']}.\n\n"
        + "\n".join(rows)
        + f"\n\n**Ratio NumPy / torch: {conv['ratio_best']:.2f}** (best times; "
        f"{conv['ratio_median']:.2f} on medians). "
        f"The naive loops of `conv2d_naive` took {naive['naive_s']:.2f} s for a batch of "
        f"{naive['batch']}, against {naive['vectorised_s'] * 1e3:.2f} ms for the vectorised "
        f"forward: **{naive['speedup']:.0f}× faster**.\n"
    )


if __name__ == "__main__":
    main()
