"""Exercises graded by pytest: the student edition, the grader and its reports.

Conventions (those of nbgrader, otter-grader and MiniTorch that instructors know):

* a reference solution sits between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` comment lines, hidden tests between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
  (:mod:`~course_lib.grading.markers`);
* a graded test carries ``@pytest.mark.points(n)``, ``@pytest.mark.exercise(id)``
  and its chapter's marker (``@pytest.mark.ch01``).

Commands (``python -m course_lib.grading COMMAND --help``):

``make-student OUT_DIR``        the student edition (:mod:`~course_lib.grading.student`)
``grade SUBMISSION_DIR``        grade one or many submissions (:mod:`~course_lib.grading.grade`),
                                writing results.json and a CSV (:mod:`~course_lib.grading.report`)
``gradescope-zip OUT.zip``      the Gradescope autograder (:mod:`~course_lib.grading.bundle`)

Nothing runs on import.
"""

from course_lib.grading.markers import MarkerError, find_blocks, strip_source

__all__ = ["MarkerError", "find_blocks", "strip_source"]
