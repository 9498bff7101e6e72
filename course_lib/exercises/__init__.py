"""Exercises with reference solutions, one module per chapter (``ch01``, ``ch02``, ...).

Each exercise is a function whose docstring states the whole task: inputs,
shapes, dtypes, the errors to raise. Its body holds the reference solution
between a ``### BEGIN SOLUTION`` and an ``### END SOLUTION`` line (the nbgrader
convention). ``python -m course_lib.grading make-student`` replaces what lies
between the markers with ``raise NotImplementedError(...)`` to produce the
student edition, so the exercise is generated from the solution and never kept
by hand. The graded tests live in ``tests/exercises/test_chNN.py``.
"""
