#!/usr/bin/env python3
"""Find import cycles between the top-level modules of a Rust crate.

Usage: scripts/module-cycles.py [--layers] CRATE/src

Every `crate::x` path (in `use` items and inline, `crate::{a, b::c}` groups
included) in a module's files is an edge from that module to `x`; a name the
crate root re-exports (`pub use m::Name;` in lib.rs) counts as an edge to `m`.
Submodules (`x/y.rs`, `x/mod.rs`) count as their top-level module `x`. Comments,
string literals and `#[cfg(test)]` items (and files declared by a
`#[cfg(test)] mod name;`) are ignored: tests may use anything.

Prints each cycle found and exits 1; otherwise prints nothing (or, with
`--layers`, the modules in layers, lowest first, each depending only on layers
below it) and exits 0.
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments_and_strings(s):
    """Blank out comments, string and char literals, keeping line structure."""
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if s.startswith("//", i):
            j = s.find("\n", i)
            i = n if j < 0 else j
        elif s.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if s.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif s.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if s[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', s[i:]) and not re.match(r"[A-Za-z0-9_]", s[i - 1] if i else " "):
            m = re.match(r'r(#*)"', s[i:])
            end = '"' + m.group(1)
            j = s.find(end, i + len(m.group(0)))
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and s[i] != '"':
                i += 2 if s[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", s[i:]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", s[i:])
            i += len(m.group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_item(s, i):
    """Index just past the item starting at `i` (ends at `;` or a balanced `{}`)."""
    n = len(s)
    while i < n and s[i] not in ";{":
        i += 1
    if i < n and s[i] == ";":
        return i + 1
    depth = 0
    while i < n:
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def drop_cfg_test(s):
    """Remove `#[cfg(test)]` items; return the rest and test-only `mod name;`s."""
    test_mods = []
    while True:
        m = CFG_TEST.search(s)
        if not m:
            return s, test_mods
        j = m.end()
        # Further attributes between `#[cfg(test)]` and the item.
        while True:
            a = re.match(r"\s*#\s*\[", s[j:])
            if not a:
                break
            j = skip_brackets(s, j + a.end() - 1)
        d = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", s[j:])
        if d:
            test_mods.append(d.group(1))
        s = s[: m.start()] + s[skip_item(s, j):]


def skip_brackets(s, i):
    depth = 0
    while i < len(s):
        if s[i] == "[":
            depth += 1
        elif s[i] == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def group_heads(g):
    """First path segment of each element of a `{a, b::c, d::{e, f}}` group body."""
    heads, depth, cur = [], 0, ""
    for c in g + ",":
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if depth == 0 and c == ",":
            m = re.match(r"\s*(" + IDENT + ")", cur)
            if m:
                heads.append(m.group(1))
            cur = ""
        else:
            cur += c
    return heads


def crate_refs(s):
    names = []
    for m in re.finditer(r"\bcrate\s*::\s*", s):
        j = m.end()
        if j < len(s) and s[j] == "{":
            depth, k = 0, j
            while k < len(s):
                if s[k] == "{":
                    depth += 1
                elif s[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            names += group_heads(s[j + 1 : k])
        else:
            h = re.match(IDENT, s[j:])
            if h:
                names.append(h.group(0))
    return names


def module_files(src):
    """(top-level module, path, parent file's declared name) for every .rs file."""
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            parts = rel[:-3].split("/")
            yield parts[0], path, parts


def main(argv):
    layers = "--layers" in argv
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    src = args[0]
    root = os.path.join(src, "lib.rs")
    if not os.path.exists(root):
        root = os.path.join(src, "main.rs")
    files = list(module_files(src))
    texts = {}
    test_only = set()  # module paths (tuples) declared under #[cfg(test)]
    for top, path, parts in files:
        text, tmods = drop_cfg_test(strip_comments_and_strings(open(path, encoding="utf-8").read()))
        texts[path] = text
        here = tuple(p for p in parts if p != "mod")
        if path == root:
            here = ()
        for t in tmods:
            test_only.add(here + (t,))

    root_text = texts[root]
    modules = set(re.findall(r"\bmod\s+(" + IDENT + r")\s*[;{]", root_text))
    # Names the root re-exports: `pub use m::Name;`, `pub use m::{A, B as C};`.
    reexport = {}
    for m in re.finditer(r"\bpub\s+use\s+(" + IDENT + r")\s*::\s*([^;]*);", root_text):
        mod, rest = m.group(1), m.group(2)
        if mod not in modules:
            continue  # another crate's item re-exported: not an edge here
        for name in re.findall(IDENT + r"(?:\s+as\s+" + IDENT + r")?", rest.replace("{", " ").replace("}", " ")):
            parts = name.split()
            reexport[parts[-1]] = mod

    edges = {m: set() for m in modules}
    for top, path, parts in files:
        if path == root or top not in modules:
            continue
        here = tuple(p for p in parts if p != "mod")
        if any(here[:k] in test_only for k in range(1, len(here) + 1)):
            continue
        for name in crate_refs(texts[path]):
            dst = name if name in modules else reexport.get(name)
            if dst and dst != top:
                edges[top].add(dst)

    cycles = sccs(edges)
    if cycles:
        for c in cycles:
            print(f"cycle among {', '.join(c)}: " + " -> ".join(find_cycle(edges, c)))
        return 1
    if layers:
        level = {}

        def depth(m):
            if m not in level:
                level[m] = 1 + max((depth(d) for d in edges[m]), default=-1)
            return level[m]

        for m in modules:
            depth(m)
        for lv in range(max(level.values(), default=-1) + 1):
            print(f"{lv}: " + " ".join(sorted(m for m in modules if level[m] == lv)))
    return 0


def sccs(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def find_cycle(edges, comp):
    """One concrete cycle through the component, as a path back to its start."""
    comp = set(comp)
    start = min(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
