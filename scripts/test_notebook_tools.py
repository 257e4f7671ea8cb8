#!/usr/bin/env python3
"""Tests for scripts/check_notebooks.py and scripts/mknb.py (standard library only).

Run: python3 -m unittest discover -s scripts -p 'test_*.py'   (part of `make test`)

The fixtures in scripts/testdata/*.ipynb are real notebooks executed by GoNB
v0.11.1 through `jupyter nbconvert --execute --allow-errors`, one failure kind
each; their sources are in scripts/testdata/src/. Regenerate them with:

    python3 scripts/mknb.py --out-dir /tmp/fx scripts/testdata/src/*.go.md
    for f in /tmp/fx/*.ipynb; do jupyter nbconvert --to notebook --execute --allow-errors \\
        --ExecutePreprocessor.kernel_name=gonb --output-dir scripts/testdata "$f"; done
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_notebooks  # noqa: E402
import mknb  # noqa: E402

TESTDATA = os.path.join(HERE, "testdata")


def fixture(name):
    return os.path.join(TESTDATA, name + ".ipynb")


def run_checker(*paths):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = check_notebooks.main(list(paths))
    return rc, out.getvalue()


class CheckerOnRealGoNBOutputs(unittest.TestCase):
    """Each fixture was produced by GoNB; the checker must flag the right cell."""

    cases = {
        # fixture: (cell index, text expected in the message)
        "panic": (0, "exit status 2"),
        "exit": (0, "exit status 3"),
        "fatal": (0, "exit status 1"),
        "gotest": (1, "exit status 1"),
        "signal": (0, "signal: killed"),
        "magic": (0, "unknown or not implemented"),
        "compile": (0, "undefined: undefinedThing"),
    }

    def test_failures_are_caught_with_cell_index(self):
        for name, (cell, text) in self.cases.items():
            with self.subTest(fixture=name):
                problems = check_notebooks.check_notebook(fixture(name))
                self.assertEqual(len(problems), 1, problems)
                idx, msg = problems[0]
                self.assertEqual(idx, cell)
                self.assertIn(text, msg)
                rc, out = run_checker(fixture(name))
                self.assertEqual(rc, 1)
                self.assertIn(f"{fixture(name)}: cell {cell}:", out)
                self.assertIn("0 passed, 1 failed", out)

    def test_good_notebook_passes(self):
        # Has a harmless stderr line mentioning "exit status 0" and an intended
        # panic in a cell tagged raises-exception.
        self.assertEqual(check_notebooks.check_notebook(fixture("good")), [])
        rc, out = run_checker(fixture("good"))
        self.assertEqual(rc, 0)
        self.assertIn("1 passed, 0 failed", out)

    def test_unexecuted_cells_are_caught(self):
        problems = check_notebooks.check_notebook(fixture("unexecuted"))
        self.assertEqual([idx for idx, _ in problems], [0, 1, 2])
        self.assertTrue(all("not executed" in msg for _, msg in problems))

    def test_missing_executed_copy_fails(self):
        rc, out = run_checker(fixture("good"), os.path.join(TESTDATA, "nonexistent.ipynb"))
        self.assertEqual(rc, 1)
        self.assertIn("nonexistent.ipynb: notebook: no executed copy", out)
        self.assertIn("1 passed, 1 failed", out)

    def test_summary_counts_every_notebook(self):
        rc, out = run_checker(*(fixture(n) for n in ["good", "panic", "exit", "magic"]))
        self.assertEqual(rc, 1)
        self.assertTrue(out.rstrip().endswith("1 passed, 3 failed"), out)

    def test_usage_error(self):
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(check_notebooks.main([]), 2)


class CheckerOnSyntheticCells(unittest.TestCase):
    """Edge cases of the matching rules on hand-made cells."""

    def cell(self, outputs, count=1, source="%%\nx()", tags=None):
        c = {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs, "source": source}
        if tags:
            c["metadata"]["tags"] = tags
        return c

    @staticmethod
    def stream(name, text):
        return {"output_type": "stream", "name": name, "text": text}

    def test_exit_status_only_at_line_start_and_nonzero(self):
        p = check_notebooks.cell_problems
        self.assertEqual(p(self.cell([self.stream("stderr", "exit status 0\n")])), [])
        self.assertEqual(p(self.cell([self.stream("stderr", "saw exit status 1 earlier\n")])), [])
        self.assertEqual(p(self.cell([self.stream("stdout", "exit status 1\n")])), [])
        self.assertEqual(len(p(self.cell([self.stream("stderr", ["log line\n", "exit status 12\n"])]))), 1)

    def test_signal_and_unknown_magic(self):
        p = check_notebooks.cell_problems
        self.assertEqual(len(p(self.cell([self.stream("stderr", "signal: segmentation fault\n")]))), 1)
        self.assertEqual(len(p(self.cell([self.stream("stdout", '"%x" unknown or not implemented yet.')]))), 1)

    def test_too_many_stdout_lines(self):
        p = check_notebooks.cell_problems
        n = check_notebooks.MAX_STDOUT_LINES
        self.assertEqual(p(self.cell([self.stream("stdout", "step\n" * n)])), [])
        self.assertEqual(p(self.cell([self.stream("stderr", "go: downloading\n" * (n + 1))])), [])
        got = p(self.cell([self.stream("stdout", "step\n" * n), self.stream("stdout", ["step 2000\n"])]))
        self.assertEqual(len(got), 1)
        self.assertIn(f"printed {n + 1} lines", got[0])

    def test_empty_cell_need_not_run(self):
        self.assertEqual(check_notebooks.cell_problems(self.cell([], count=None, source="  \n")), [])

    def test_raises_exception_tag_still_requires_execution(self):
        err = {"output_type": "error", "ename": "ERROR", "evalue": "x", "traceback": []}
        self.assertEqual(check_notebooks.cell_problems(self.cell([err], tags=["raises-exception"])), [])
        self.assertEqual(len(check_notebooks.cell_problems(self.cell([err]))), 1)
        got = check_notebooks.cell_problems(self.cell([], count=None, tags=["raises-exception"]))
        self.assertEqual(got, ["not executed"])

    def test_notebook_without_code_cells_fails(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "md.ipynb")
            with open(path, "w") as f:
                json.dump({"cells": [{"cell_type": "markdown", "metadata": {}, "source": "hi"}]}, f)
            self.assertEqual(check_notebooks.check_notebook(path), [(None, "no code cells")])
            with open(path, "w") as f:
                f.write("{not json")
            self.assertIn("cannot read notebook", check_notebooks.check_notebook(path)[0][1])


class MkNB(unittest.TestCase):
    SRC = (
        "// header comment, ignored\n"
        "\n"
        "// %% [markdown]\n"
        "// # Title\n"
        "//\n"
        "// text with `code`\n"
        "// %%\n"
        "!*echo hi\n"
        "\n"
        "// %% tags=[\"raises-exception\"]\n"
        "%%\n"
        "panic(1)\n"
        "\n"
        "\n"
    )

    def test_parse_and_build(self):
        nb = mknb.build("demo", mknb.parse("demo.go.md", self.SRC))
        self.assertEqual(nb["metadata"]["kernelspec"]["name"], "gonb")
        self.assertEqual((nb["nbformat"], nb["nbformat_minor"]), (4, 5))
        cells = nb["cells"]
        self.assertEqual([c["cell_type"] for c in cells], ["markdown", "code", "code"])
        self.assertEqual("".join(cells[0]["source"]), "# Title\n\ntext with `code`")
        self.assertEqual(cells[1]["source"], ["!*echo hi"])
        self.assertEqual(cells[2]["source"], ["%%\n", "panic(1)"])
        self.assertEqual(cells[2]["metadata"], {"tags": ["raises-exception"]})
        self.assertEqual((cells[1]["execution_count"], cells[1]["outputs"]), (None, []))
        self.assertEqual(len({c["id"] for c in cells}), 3)
        # Byte-stable.
        again = mknb.build("demo", mknb.parse("demo.go.md", self.SRC))
        self.assertEqual(mknb.render(nb), mknb.render(again))

    def test_errors_name_file_and_line(self):
        with self.assertRaisesRegex(mknb.SourceError, r"x.go.md:1: text before"):
            mknb.parse("x.go.md", "package main\n// %%\nx\n")
        with self.assertRaisesRegex(mknb.SourceError, r"x.go.md:2: unknown cell marker"):
            mknb.parse("x.go.md", "\n// %% [raw]\nx\n")
        with self.assertRaisesRegex(mknb.SourceError, r"no code cells"):
            mknb.parse("x.go.md", "// %% [markdown]\n// hi\n")

    def test_write_and_check(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "01-demo.go.md")
            with open(src, "w") as f:
                f.write(self.SRC)
            quiet = contextlib.redirect_stdout(io.StringIO())
            with quiet, contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(mknb.main(["--check", "--out-dir", d, src]), 1)  # missing
                self.assertEqual(mknb.main(["--out-dir", d, src]), 0)
                self.assertEqual(mknb.main(["--check", "--out-dir", d, src]), 0)
                with open(src, "a") as f:
                    f.write("// %%\nfmt.Println(2)\n")
                self.assertEqual(mknb.main(["--check", "--out-dir", d, src]), 1)  # stale
            with open(os.path.join(d, "01-demo.ipynb")) as f:
                self.assertEqual(json.load(f)["metadata"]["kernelspec"]["name"], "gonb")

    def test_index_in_readme(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src", "02-x.go.md")
            os.mkdir(os.path.dirname(src))
            with open(src, "w") as f:
                f.write("// summary: a | b\n" + self.SRC.replace("# Title", "# 02 · X"))
            readme = os.path.join(d, "README.md")
            with open(readme, "w") as f:
                f.write("intro\n<!-- notebooks:begin -->\nold\n<!-- notebooks:end -->\nrest\n")
            quiet = contextlib.redirect_stdout(io.StringIO())
            with quiet, contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(mknb.main(["--check", "--index", readme, src]), 1)
                self.assertEqual(mknb.main(["--index", readme, src]), 0)
                self.assertEqual(mknb.main(["--check", "--index", readme, src]), 0)
            with open(readme) as f:
                text = f.read()
            self.assertIn("| [02-x](02-x.ipynb) | 02 · X | a \\| b |\n<!-- notebooks:end -->\nrest\n", text)
            self.assertTrue(text.startswith("intro\n<!-- notebooks:begin -->\n| notebook |"))
            self.assertNotIn("old", text)
            with open(readme, "w") as f:
                f.write("no markers\n")
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(mknb.main(["--index", readme, src]), 2)


if __name__ == "__main__":
    unittest.main()
