"""The SOLUTION / HIDDEN TESTS markers: finding, stubbing, removing, and their errors."""

from __future__ import annotations

import ast
import textwrap

import pytest

from course_lib.grading.markers import (
    HIDDEN,
    SOLUTION,
    MarkerError,
    find_blocks,
    strip_source,
    stub_lines,
)

SOURCE = textwrap.dedent(
    '''\
    def outer(x):
        """Double a number.

        Exercise ``ch99-ex-double``. The docstring may quote the marker:
        ### BEGIN SOLUTION
        and it is not one.
        """
        ### BEGIN SOLUTION
        y = 2 * x
        return y
        ### END SOLUTION


    class Shapes:
        def area(self, w, h):
            """Area of a rectangle."""
            ### BEGIN SOLUTION ch99-ex-area
            return w * h
            ### END SOLUTION


    def test_public():
        assert outer(1) == 2


    ### BEGIN HIDDEN TESTS
    def test_hidden():
        assert outer(2) == 4
    ### END HIDDEN TESTS
    '''
)


def test_find_blocks_ignores_markers_inside_strings() -> None:
    blocks = find_blocks(SOURCE, "demo.py")
    assert [(b.kind, b.begin, b.end) for b in blocks] == [
        (SOLUTION, 8, 11),
        (SOLUTION, 17, 19),
        (HIDDEN, 26, 29),
    ]
    assert blocks[0].indent == "    " and blocks[1].indent == "        "
    assert blocks[1].label == "ch99-ex-area"


def test_strip_source_stubs_solutions_and_drops_hidden_tests() -> None:
    out = strip_source(SOURCE, "demo.py", module="demo")
    ast.parse(out)  # still valid Python
    assert "2 * x" not in out and "w * h" not in out
    assert "test_hidden" not in out and "HIDDEN" not in out
    assert "test_public" in out
    # The marker lines stay around the stub, at the solution's indentation.
    assert (
        '    ### BEGIN SOLUTION\n    raise NotImplementedError("Exercise ch99-ex-double: '
        'Double a number.")\n    ### END SOLUTION\n'
    ) in out
    assert '        raise NotImplementedError("Exercise ch99-ex-area: Area of a rectangle.")' in out
    assert out.endswith("assert outer(1) == 2\n")  # no trailing blank lines left behind


def test_stub_raises_with_the_exercise_id() -> None:
    namespace: dict = {}
    exec(strip_source(SOURCE, "demo.py"), namespace)  # noqa: S102 - our own generated code
    with pytest.raises(NotImplementedError, match="Exercise ch99-ex-double"):
        namespace["outer"](1)
    with pytest.raises(NotImplementedError, match="Exercise ch99-ex-area"):
        namespace["Shapes"]().area(2, 3)


def test_exercise_id_falls_back_to_module_and_function() -> None:
    source = (
        'def f():\n    """Do it."""\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n'
    )
    assert 'NotImplementedError("Exercise mymod.f: Do it.")' in strip_source(source, module="mymod")


def test_long_task_is_wrapped_within_100_columns() -> None:
    lines = stub_lines(" " * 8, "ch01-ex-long", "word " * 40)
    assert len(lines) > 1 and all(len(line) <= 100 for line in lines)
    code = "def f():\n" + "\n".join(lines) + "\n"
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102
    with pytest.raises(NotImplementedError, match="^Exercise ch01-ex-long: word word"):
        namespace["f"]()


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("x = 1\n### BEGIN SOLUTION\ny = 2\n", 2, "never closed"),
        ("x = 1\n\n### END SOLUTION\n", 3, "without its"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", 2, "do not nest"),
        ("### BEGIN HIDDEN TESTS\n### BEGIN SOLUTION\n", 2, "do not nest"),
        ("### BEGIN SOLUTION\nx = 1\n### END HIDDEN TESTS\n", 3, "closes the SOLUTION block"),
    ],
)
def test_marker_errors_name_file_and_line(source: str, line: int, words: str) -> None:
    with pytest.raises(MarkerError, match=words) as info:
        find_blocks(source, "course_lib/exercises/bad.py")
    assert info.value.path == "course_lib/exercises/bad.py"
    assert info.value.line == line
    assert str(info.value).startswith(f"course_lib/exercises/bad.py:{line}: ")


def test_non_python_sources_read_every_line() -> None:
    cell = "%timeit f()\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n"
    assert [b.kind for b in find_blocks(cell, "nb.ipynb", python=False)] == [SOLUTION]
    assert "x = 1" not in strip_source(cell, "nb.ipynb", python=False)
