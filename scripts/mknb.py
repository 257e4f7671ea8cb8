#!/usr/bin/env python3
"""Build GoNB notebooks (.ipynb) from plain-text sources in the percent format.

A source file notebooks/src/NAME.go.md becomes notebooks/NAME.ipynb (kernel
"gonb", no outputs). Cells start at marker lines:

    // %% [markdown]        a Markdown cell; a leading "// " (or "//") is
                            removed from each of its lines
    // %%                   a Go code cell (GoNB syntax: %%, !*, %goworkfix ...)
    // %% tags=["a", "b"]   a code cell with cell tags (e.g. "raises-exception"
                            for a cell whose error is intended)

Lines before the first marker must be blank or `//` comments; they are ignored,
except `// summary: TEXT`, a one-line description for the index (below).
Blank lines at the start and end of each cell are dropped. Cell ids are derived
from the notebook name and the cell index, so regenerating is byte-stable.

Usage:
    mknb.py [--out-dir DIR] SRC.go.md...      write DIR/NAME.ipynb (default: SRC's parent's parent)
    mknb.py --check [--out-dir DIR] SRC...    exit 1 if a generated .ipynb is missing or stale
    --index README.md                         also rewrite the table between the lines
                                              <!-- notebooks:begin --> and <!-- notebooks:end -->
                                              (link, first "# " heading, summary), or check it

Standard library only.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile

SUFFIX = ".go.md"
MARKER = re.compile(r"^//\s?%%(?:\s+(.*?))?\s*$")

KERNELSPEC = {"display_name": "Go (gonb)", "language": "go", "name": "gonb"}
LANGUAGE_INFO = {
    "codemirror_mode": "",
    "file_extension": ".go",
    "mimetype": "text/x-go",
    "name": "go",
    "nbconvert_exporter": "",
    "pygments_lexer": "go",
    "version": "go1.26",
}


class SourceError(Exception):
    """A malformed notebook source; the message names the file and line."""


def _parse_marker(path, lineno, arg):
    """Returns (cell_type, tags) for the text after '// %%'."""
    arg = (arg or "").strip()
    if arg == "":
        return "code", []
    if arg in ("[markdown]", "[md]"):
        return "markdown", []
    m = re.fullmatch(r"tags\s*=\s*(\[.*\])", arg)
    if m:
        try:
            tags = json.loads(m.group(1))
        except json.JSONDecodeError as e:
            raise SourceError(f"{path}:{lineno}: bad tags list {m.group(1)!r}: {e}") from e
        if not all(isinstance(t, str) for t in tags):
            raise SourceError(f"{path}:{lineno}: tags must be strings: {m.group(1)!r}")
        return "code", tags
    raise SourceError(f"{path}:{lineno}: unknown cell marker '// %% {arg}' "
                      "(want '// %%', '// %% [markdown]' or '// %% tags=[...]')")


def _strip_comment(line):
    if line.startswith("// "):
        return line[3:]
    if line.startswith("//"):
        return line[2:]
    return line


def _trim(lines):
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def parse(path, text):
    """Parses a percent-format source into a list of (cell_type, tags, lines)."""
    cells = []
    current = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = MARKER.match(line)
        if m:
            kind, tags = _parse_marker(path, lineno, m.group(1))
            current = (kind, tags, [])
            cells.append(current)
            continue
        if current is None:
            if line.strip() and not line.lstrip().startswith("//"):
                raise SourceError(f"{path}:{lineno}: text before the first '// %%' marker")
            continue
        kind, _, lines = current
        lines.append(_strip_comment(line) if kind == "markdown" else line)
    out = []
    for kind, tags, lines in cells:
        lines = _trim(lines)
        if lines:
            out.append((kind, tags, lines))
    if not any(kind == "code" for kind, _, _ in out):
        raise SourceError(f"{path}: no code cells (cells start at '// %%' lines)")
    return out


INDEX_BEGIN = "<!-- notebooks:begin -->"
INDEX_END = "<!-- notebooks:end -->"


def summary_of(text):
    """Returns the `// summary:` text from the lines before the first marker, or ''."""
    for line in text.splitlines():
        if MARKER.match(line):
            break
        m = re.match(r"^//\s*summary:\s*(.*?)\s*$", line)
        if m:
            return m.group(1)
    return ""


def title_of(cells):
    """Returns the first '# ' heading of the first Markdown cell, or ''."""
    for kind, _, lines in cells:
        if kind == "markdown":
            for line in lines:
                if line.startswith("# "):
                    return line[2:].strip()
            return ""
    return ""


def index_table(entries):
    """Markdown table for (name, title, summary) entries."""
    rows = ["| notebook | title | what it shows |", "|---|---|---|"]
    for name, title, summary in sorted(entries):
        cell = lambda t: t.replace("|", "\\|")  # noqa: E731
        rows.append(f"| [{name}]({name}.ipynb) | {cell(title)} | {cell(summary)} |")
    return "\n".join(rows) + "\n"


def with_index(readme_text, table, path):
    """Returns readme_text with the block between the index markers replaced by table."""
    b, e = readme_text.find(INDEX_BEGIN), readme_text.find(INDEX_END)
    if b < 0 or e < b:
        raise SourceError(f"{path}: needs the lines {INDEX_BEGIN} and {INDEX_END}")
    head = readme_text[: b + len(INDEX_BEGIN)]
    return head + "\n" + table + readme_text[e:]


def build(name, cells):
    """Returns the notebook (a dict in nbformat 4.5) for parsed cells."""
    nb_cells = []
    for i, (kind, tags, lines) in enumerate(cells):
        source = [line + "\n" for line in lines]
        source[-1] = source[-1][:-1]
        cell = {
            "cell_type": kind,
            "id": hashlib.sha256(f"{name}/{i}".encode()).hexdigest()[:12],
            "metadata": {"tags": tags} if tags else {},
            "source": source,
        }
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        nb_cells.append(cell)
    return {
        "cells": nb_cells,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(nb):
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def target(src, out_dir):
    base = os.path.basename(src)
    if not base.endswith(SUFFIX):
        raise SourceError(f"{src}: source names must end in {SUFFIX}")
    name = base[: -len(SUFFIX)]
    if out_dir is None:
        out_dir = os.path.dirname(os.path.dirname(os.path.abspath(src)))
    return name, os.path.join(out_dir, name + ".ipynb")


def write_atomic(path, data):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".mknb-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sources", nargs="+", help="notebook sources (*.go.md)")
    ap.add_argument("--out-dir", help="where the .ipynb files go (default: the source folder's parent)")
    ap.add_argument("--check", action="store_true", help="only check that the .ipynb files are up to date")
    ap.add_argument("--index", metavar="README", help="also update (or check) the notebook table in README")
    args = ap.parse_args(argv)
    outputs = []  # (path, new content)
    entries = []
    try:
        for src in args.sources:
            name, dst = target(src, args.out_dir)
            with open(src, encoding="utf-8") as f:
                text = f.read()
            cells = parse(src, text)
            outputs.append((dst, render(build(name, cells))))
            entries.append((name, title_of(cells), summary_of(text)))
        if args.index:
            with open(args.index, encoding="utf-8") as f:
                outputs.append((args.index, with_index(f.read(), index_table(entries), args.index)))
    except (OSError, SourceError) as e:
        print(f"mknb: {e}", file=sys.stderr)
        return 2
    stale = 0
    for dst, data in outputs:
        old = None
        if os.path.exists(dst):
            with open(dst, encoding="utf-8") as f:
                old = f.read()
        if args.check:
            if old != data:
                print(f"mknb: {dst} is {'missing' if old is None else 'stale'}: run `make notebooks-gen`",
                      file=sys.stderr)
                stale += 1
        elif old != data:
            write_atomic(dst, data)
            print(f"mknb: wrote {dst}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
