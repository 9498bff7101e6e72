"""Command line: ``python -m course_lib.grading {make-student,grade,gradescope-zip} ...``.

Run ``python -m course_lib.grading COMMAND --help`` for the options of each command.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course_lib.grading.bundle import build_gradescope_zip
from course_lib.grading.course import CourseError
from course_lib.grading.grade import Grader, GradingError, is_submission
from course_lib.grading.markers import MarkerError
from course_lib.grading.report import VISIBILITIES, summary_table, write_csv, write_results
from course_lib.grading.runner import Limits
from course_lib.grading.student import LeakError, make_student


def _add_limits(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument(
        "--course", type=Path, default=None, help="course root (default: this repository)"
    )
    p.add_argument("--marker", "-m", default=None, help="pytest -m expression, e.g. ch01")
    p.add_argument("--timeout", type=float, default=d.test_timeout, help="seconds per test")
    p.add_argument(
        "--total-timeout", type=float, default=d.total_timeout, help="seconds per submission"
    )
    p.add_argument(
        "--memory-mb",
        type=int,
        default=d.memory_mb,
        help="address space (MiB) allowed beyond the course's own imports; 0: no cap",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of random, NumPy and PyTorch")
    p.add_argument(
        "--hidden-visibility",
        choices=VISIBILITIES,
        default="after_published",
        help="Gradescope visibility of the hidden tests",
    )


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        test_timeout=args.timeout,
        total_timeout=args.total_timeout,
        memory_mb=args.memory_mb,
        seed=args.seed,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading",
        description="The student edition, the grader and the Gradescope bundle of the course.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}

    p = sub.add_parser(
        "make-student", help="write the student edition (stubs, no hidden tests)", **fmt
    )
    p.add_argument("out_dir", type=Path)
    p.add_argument(
        "--course", type=Path, default=None, help="course root (default: this repository)"
    )
    p.add_argument("--force", action="store_true", help="replace an earlier student edition")

    p = sub.add_parser("grade", help="grade one submission, or a folder of them", **fmt)
    p.add_argument("submission_dir", type=Path)
    p.add_argument("--results", type=Path, help="results.json to write (one submission)")
    p.add_argument("--csv", type=Path, help="CSV of grades to write, one row per student")
    p.add_argument(
        "--out-dir",
        type=Path,
        default=Path("grading-results"),
        help="folder of STUDENT/results.json (several submissions)",
    )
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel gradings")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--single", action="store_true", help="the folder is one submission")
    group.add_argument(
        "--batch", action="store_true", help="the folder holds one folder per student"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")
    _add_limits(p)

    p = sub.add_parser("gradescope-zip", help="write the Gradescope autograder zip", **fmt)
    p.add_argument("out_zip", type=Path)
    _add_limits(p)
    return parser


def _grade(args: argparse.Namespace) -> int:
    folder: Path = args.submission_dir
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    with Grader(args.course, _limits(args), marker=args.marker) as grader:
        batch = args.batch or (not args.single and not is_submission(folder, grader.modules))
        if batch:
            students = {p.name: p for p in sorted(folder.iterdir()) if p.is_dir()}
            students = {name: p for name, p in students.items() if not name.startswith(".")}
        else:
            students = {folder.resolve().name: folder}
        if batch and args.results:
            print("error: several submissions: use --out-dir, not --results", file=sys.stderr)
            return 2
        if not students:
            print(f"error: no submissions in {folder}", file=sys.stderr)
            return 2
        from tqdm.auto import tqdm  # imported here: the CLI's only third-party need

        with tqdm(total=len(students), unit="submission", disable=args.quiet or not batch) as bar:
            results = grader.grade_many(students, jobs=args.jobs, on_done=lambda _: bar.update())
    for result in results:
        target = args.out_dir / result.student / "results.json" if batch else args.results
        if target is not None:
            write_results(result, target, args.hidden_visibility)
    if args.csv:
        write_csv(results, args.csv)
    if not args.quiet:
        print(summary_table(results))
        for result in results:
            for note in result.notes:
                print(f"{result.student}: {note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "make-student":
            report = make_student(args.out_dir, args.course, force=args.force)
            print(
                f"Wrote the student edition to {report.out_dir}: {report.files} files, "
                f"{len(report.stubs)} solutions stubbed, "
                f"{report.hidden_blocks} hidden-test blocks removed."
            )
        elif args.command == "grade":
            return _grade(args)
        else:
            path = build_gradescope_zip(
                args.out_zip,
                args.course,
                limits=_limits(args),
                marker=args.marker,
                hidden_visibility=args.hidden_visibility,
            )
            print(f"Wrote {path}: upload it on Gradescope's 'Configure Autograder' page.")
    except (MarkerError, CourseError, GradingError, LeakError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
