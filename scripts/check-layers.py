#!/usr/bin/env python3
"""Checks that every crate's file dependencies point one way.

Reads every `use crate::...` / `use super::...` / `crate::a::b` path in each
crate's src/ (crates/*/src), maps each to the file that defines it, and
fails when:
- any import circle exists among the files of a crate;
- in the core (crates/reqcache): an import circle among its top-level
  modules (a directory counts as one module), a file under policy/ imports
  anything outside policy/ (the policy is pure), or anything but service.rs
  imports engine/ from outside it.

Usage: scripts/check-layers.py [--graph]   (--graph prints the core's edges)
"""
import os
import re
import sys

CRATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")
ROOT = os.path.join(CRATES, "reqcache", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def file_of(parts):
    """The file that defines module path `parts` (the longest existing prefix)."""
    for n in range(len(parts), -1, -1):
        base = os.path.join(ROOT, *parts[:n])
        for candidate in (base + ".rs", os.path.join(base, "mod.rs")):
            if os.path.isfile(candidate):
                return os.path.relpath(candidate, ROOT)
        if n == 0:
            return "lib.rs"
    return "lib.rs"


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def test_free(text):
    """The text before the first `#[cfg(test)]` module (private or not: a
    test module shared with a sibling's tests is still test code)."""
    return re.split(
        r"#\[cfg\([^\]]*\btest\b[^\]]*\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod tests", text
    )[0]


def targets(path, text):
    mod = module_of(path)
    found = set()
    body = strip_comments(test_free(text))
    # use statements, including grouped ones: take each path prefix.
    for m in re.finditer(r"\buse\s+([^;]+);", body):
        for p in expand(m.group(1)):
            found.add(p)
    for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", body):
        found.add("crate::" + m.group(1))
    # Paths written inline, `super::fetch::refresh(...)`, count as imports.
    for m in re.finditer(r"(?<![\w:])((?:super::)+(?:\w+::)*\w+)", body):
        found.add(m.group(1))
    out = set()
    for p in found:
        segs = p.split("::")
        if segs[0] == "crate":
            parts = segs[1:]
        elif segs[0] == "super":
            parts = list(mod)
            while segs and segs[0] == "super":
                segs, parts = segs[1:], parts[:-1]
            parts = parts + segs
        elif segs[0] == "self":
            parts = mod + segs[1:]
        elif file_of(mod + segs[:1]) != file_of(mod):
            # A path relative to this module: one of its child modules.
            parts = mod + segs
        else:
            continue
        target = file_of(parts)
        if target != os.path.relpath(path, ROOT) and target != "lib.rs":
            out.add(target)
    return out


def expand(tree):
    # `a::b as c`: the path is `a::b` (dropped before the spaces go).
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        yield tree.split(" as ")[0]
        return
    i = tree.index("{")
    prefix, inner = tree[:i], tree[i + 1 : tree.rindex("}")]
    depth, start, items = 0, 0, []
    for j, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(inner[start:j])
            start = j + 1
    items.append(inner[start:])
    for item in filter(None, items):
        if item == "self":
            yield prefix.rstrip(":")
        else:
            yield from expand(prefix + item)


def file_graph(root):
    global ROOT
    ROOT = root
    graph = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    graph[os.path.relpath(path, root)] = targets(path, f.read())
    return graph


def circles(graph):
    """Every circle a depth-first search meets, as 'a -> b -> a'."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def top_module(path):
    return path.split(os.sep)[0].removesuffix(".rs")


def core_problems(graph):
    problems = []
    for src, dsts in sorted(graph.items()):
        if "--graph" in sys.argv:
            for dst in sorted(dsts):
                print(f"{src} -> {dst}")
        if src.startswith("policy/"):
            for dst in dsts:
                if not dst.startswith("policy/"):
                    problems.append(f"policy is pure: {src} imports {dst}")
        for dst in dsts:
            if dst.startswith("engine/") and not src.startswith("engine/") and src != "service.rs":
                problems.append(f"only service.rs enters the engine: {src} imports {dst}")
    modules = {}
    for src, dsts in graph.items():
        if src == "lib.rs":
            continue
        for dst in dsts:
            if top_module(src) != top_module(dst):
                modules.setdefault(top_module(src), set()).add(top_module(dst))
    problems += ["module circle in the core: " + c for c in circles(modules)]
    return problems


def main():
    problems, files, edges = [], 0, 0
    for crate in sorted(os.listdir(CRATES)):
        root = os.path.join(CRATES, crate, "src")
        if not os.path.isdir(root):
            continue
        graph = file_graph(root)
        files += len(graph)
        edges += sum(len(d) for d in graph.values())
        problems += [f"import circle in {crate}: {c}" for c in circles(graph)]
        if crate == "reqcache":
            problems += core_problems(graph)
    if problems:
        print("\n".join(problems))
        print(f"layers: {len(problems)} problem(s) in {files} files, {edges} imports")
        return 1
    print(f"layers: {files} files in every crate, {edges} internal imports, no circle; the core's modules point one way, policy pure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
