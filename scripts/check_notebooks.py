#!/usr/bin/env python3
"""Check executed GoNB notebooks for failures that nbconvert lets through.

`jupyter nbconvert --execute` with the GoNB kernel exits 0 after a panic,
os.Exit(n), log.Fatal or a failing %test: the cell only leaves
"exit status N" on stderr. This checker reads the executed copies and fails
on, per code cell:

  - an `error` output (compile errors, kernel errors, nbconvert --allow-errors);
  - a stderr stream with a line starting "exit status 1".."9..." or containing
    "signal:" (a program killed by a signal);
  - "unknown or not implemented" in any stream (an unknown %magic);
  - a code cell with source that was not executed (no execution_count);
  - a code cell that printed more than MAX_STDOUT_LINES lines to stdout (a
    loop printing every step: use a progress bar, pkg/progress).

Cells tagged "raises-exception" may hold errors on purpose and are only
checked for having run. A notebook path that does not exist counts as failed
(nbconvert did not write it: a timeout or a dead kernel; see its .log).

Prints one line per notebook and a summary "N passed, M failed"; exits 1 when
any notebook failed, 2 on bad usage. Standard library only.

Usage: check_notebooks.py EXECUTED.ipynb...
"""

import json
import os
import re
import sys

EXIT_STATUS = re.compile(r"^exit status [1-9]", re.MULTILINE)
SIGNAL = re.compile(r"signal:")
UNKNOWN_MAGIC = "unknown or not implemented"
ALLOW_ERRORS_TAG = "raises-exception"
MAX_STDOUT_LINES = 300


def _text(value):
    if isinstance(value, list):
        return "".join(value)
    return value or ""


def _first_line(cell):
    for line in _text(cell.get("source")).splitlines():
        if line.strip():
            return line.strip()[:60]
    return ""


def _excerpt(text, match_start):
    line_start = text.rfind("\n", 0, match_start) + 1
    line_end = text.find("\n", match_start)
    return text[line_start: line_end if line_end >= 0 else len(text)].strip()[:120]


def cell_problems(cell):
    """Returns a list of problem descriptions for one code cell."""
    problems = []
    source = _text(cell.get("source")).strip()
    if source and cell.get("execution_count") is None:
        problems.append("not executed")
    stdout_lines = sum(_text(out.get("text")).count("\n") for out in cell.get("outputs", [])
                       if out.get("output_type") == "stream" and out.get("name") == "stdout")
    if stdout_lines > MAX_STDOUT_LINES:
        problems.append(f"printed {stdout_lines} lines to stdout (more than {MAX_STDOUT_LINES}: "
                        "show progress with pkg/progress instead)")
    tags = cell.get("metadata", {}).get("tags", [])
    if ALLOW_ERRORS_TAG in tags:
        return problems
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            # Skip Go's "# package" header lines; keep the first two messages.
            lines = [ln.strip() for ln in _text(out.get("evalue")).splitlines()
                     if ln.strip() and not ln.startswith("# ")]
            problems.append(f"error output: {out.get('ename', '?')}: {'; '.join(lines[:2])[:160]}")
        elif kind == "stream":
            text = _text(out.get("text"))
            if UNKNOWN_MAGIC in text:
                problems.append(f"{out.get('name')}: {_excerpt(text, text.index(UNKNOWN_MAGIC))}")
            if out.get("name") == "stderr":
                for rx in (EXIT_STATUS, SIGNAL):
                    m = rx.search(text)
                    if m:
                        problems.append(f"stderr: {_excerpt(text, m.start())}")
    return problems


def check_notebook(path):
    """Returns a list of (cell_index or None, message) problems for one executed notebook."""
    if not os.path.exists(path):
        log = os.path.splitext(path)[0] + ".log"
        return [(None, f"no executed copy: nbconvert failed (timeout or dead kernel?); see {log}")]
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        return [(None, f"cannot read notebook: {e}")]
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return [(None, "not a notebook: no cells list")]
    problems = []
    code_cells = 0
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        code_cells += 1
        for p in cell_problems(cell):
            problems.append((i, f"{p}  [{_first_line(cell)}]"))
    if code_cells == 0:
        problems.append((None, "no code cells"))
    return problems


def main(argv=None):
    paths = sys.argv[1:] if argv is None else argv
    if not paths or any(p.startswith("-") for p in paths):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    passed = failed = 0
    for path in paths:
        problems = check_notebook(path)
        if problems:
            failed += 1
            print(f"FAIL {path}")
            for idx, msg in problems:
                where = f"cell {idx}" if idx is not None else "notebook"
                print(f"  {path}: {where}: {msg}")
        else:
            passed += 1
            print(f"ok   {path}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
