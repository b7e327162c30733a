#!/usr/bin/env python3
"""check_architecture.py — keeps the signposts true (run by `make unit`).

docs/ARCHITECTURE.md, table "Where does X live": every row names at least
one file; every file it names exists; every function it names is defined in
its file. A function belongs to the last file written with a colon before
it in the row (`worker/lease.c`: `lease_cb()`), unless "in `FILE`" follows
it (`task_abandon()` in `worker/run.c`). A definition is a C function whose
name starts a line's declaration and whose body follows (`{` before any
`;`), or a Lua `local function NAME(`. The rows the issue asked for must be
there, and every file named elsewhere in the document must exist.

Then the tables of contents: worker/worker.h names every file of the worker
(worker/*.c, worker/handlers/*.c), and the README's Layout section names
every module of shared/ (shared/*.c).

Usage: python3 tests/docs/check_architecture.py [ARCHITECTURE.md]
Exit status 0 when all holds, 1 with one line per problem otherwise.
"""
import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# Behaviours the table must answer (a case-insensitive part of a row's first cell).
REQUIRED = [
    "lease renewal",
    "promotion of delayed jobs",
    "reclaim of expired leases",
    "a dead worker's jobs taken back",
    "redis reconnect",
    "a discord 429",
    "learning a route's bucket",
    "a rate-limit place given back",
    "sigterm drain",
    "payload validation in the producer",
    "strict json front check",
    "pdf temporary files",
    "batch counting",
    "idempotency keys",
    "fencing tokens",
]

TOKEN = re.compile(r"`([^`]+)`")
FUNC = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(\)$")
PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
IN_PATH = re.compile(r"^\s+in\s+`([^`]+)`")

problems = []


def problem(msg):
    problems.append(msg)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def defines(path, name):
    """Whether the file at PATH (repo-relative) defines function NAME."""
    text = read(path)
    if path.endswith(".lua"):
        return re.search(r"^\s*(local\s+)?function\s+" + re.escape(name) + r"\s*\(", text, re.M)
    if path.endswith((".c", ".h")):
        # a declaration starting at column 0 (bodies are indented), the name
        # followed by its parameters, then a body before any ';'
        for m in re.finditer(r"^[A-Za-z_][^;{}()=#]*?[\s*]" + re.escape(name) + r"\s*\(", text, re.M):
            rest = text[m.end():]
            brace, semi = rest.find("{"), rest.find(";")
            if brace >= 0 and (semi < 0 or brace < semi):
                return True
        return False
    if path.endswith(".sh"):
        return re.search(r"^\s*" + re.escape(name) + r"\s*\(\)", text, re.M)
    return False


def table_rows(doc_text):
    """(line number, first cell, whole row) of the table under '## Where does X live'."""
    lines = doc_text.split("\n")
    start = None
    for i, line in enumerate(lines):
        if re.match(r"^##\s+Where does X live\s*$", line):
            start = i
            break
    if start is None:
        problem("no section '## Where does X live'")
        return []
    rows = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("what", "") or set(cells[0]) <= set("-: "):
            continue
        rows.append((i + 1, cells[0], line))
    return rows


def check_row(doc, lineno, what, row):
    where = f"{doc}:{lineno} ({what})"
    body = row.strip().strip("|").split("|", 1)[1] if "|" in row.strip().strip("|") else ""
    context = None
    files = 0
    for m in TOKEN.finditer(body):
        tok = m.group(1)
        after = body[m.end():]
        if PATH.match(tok) and "." in os.path.basename(tok):
            files += 1
            if not os.path.isfile(os.path.join(ROOT, tok)):
                problem(f"{where}: no file {tok}")
                if after.startswith(":"):
                    context = tok  # its functions are not checked: the file is reported
                continue
            if after.startswith(":"):
                context = tok
            continue
        f = FUNC.match(tok)
        if not f:
            continue
        name = f.group(1)
        mi = IN_PATH.match(after)
        file = mi.group(1) if mi else context
        if file is None:
            problem(f"{where}: {name}() names no file (write `FILE`: before it, or 'in `FILE`' after it)")
            continue
        if not os.path.isfile(os.path.join(ROOT, file)):
            continue  # reported as a missing file
        if not defines(file, name):
            problem(f"{where}: {file} does not define {name}()")
    if files == 0:
        problem(f"{where}: the row names no file")


def check_paths(doc, text):
    """Every file named anywhere in DOC (a `dir/name.ext` token) exists."""
    for lineno, line in enumerate(text.split("\n"), 1):
        for m in TOKEN.finditer(line):
            tok = m.group(1)
            if PATH.match(tok) and "." in os.path.basename(tok) and not line.startswith("|"):
                if not os.path.isfile(os.path.join(ROOT, tok)):
                    problem(f"{doc}:{lineno}: no file {tok}")


def check_table(doc):
    text = read(doc)
    check_paths(doc, text)
    rows = table_rows(text)
    for lineno, what, row in rows:
        check_row(doc, lineno, what, row)
    firsts = [what.lower() for _, what, _ in rows]
    for need in REQUIRED:
        if not any(need in w for w in firsts):
            problem(f"{doc}: no row answers '{need}'")
    return len(rows)


def check_worker_toc():
    head = read("worker/worker.h")
    end = head.find("*/")
    toc = head[:end]
    files = sorted(glob.glob(os.path.join(ROOT, "worker", "*.c")) +
                   glob.glob(os.path.join(ROOT, "worker", "handlers", "*.c")))
    for f in files:
        rel = os.path.relpath(f, os.path.join(ROOT, "worker"))
        if not re.search(r"(?<![\w/])" + re.escape(rel) + r"\b", toc):
            problem(f"worker/worker.h: its table of contents does not name {rel}")
    return len(files)


def check_readme_layout():
    text = read("README.md")
    m = re.search(r"^## Layout\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        problem("README.md: no '## Layout' section")
        return 0
    layout = m.group(1)
    files = sorted(glob.glob(os.path.join(ROOT, "shared", "*.c")))
    for f in files:
        base = os.path.basename(f)
        if not re.search(r"(?<![\w/])" + re.escape(base) + r"\b", layout):
            problem(f"README.md: its Layout section does not name shared/{base}")
    return len(files)


def main():
    doc = sys.argv[1] if len(sys.argv) > 1 else "docs/ARCHITECTURE.md"
    n = check_table(doc)
    w = check_worker_toc()
    s = check_readme_layout()
    if problems:
        for p in problems:
            print("check_architecture: " + p, file=sys.stderr)
        print(f"check_architecture: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_architecture: {n} rows of {doc}, {w} worker files, {s} shared modules: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
