"""The tree is the pipeline: every import in ``bench/`` and ``detectors/`` runs downward.

Layers, top to bottom (a module may import its own package and any lower layer)::

    7  bench.__main__
    6  bench.cli
    5  bench.run, bench.report
    4  bench.analysis, bench.speed, bench.gate
    3  bench.metrics, detectors
    2  bench.data
    1  bench.masks, bench.native and the bottom modules (bench.protocols, errors, jsonio, ...)

Lazy imports inside functions count too. Besides the layers, packages of one layer must not import
each other in a cycle, and modules must not import each other in a cycle (except the cycles listed
in ``ALLOWED_MODULE_CYCLES``, each inside one package).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {
    "bench.__main__": 7,
    "bench.cli": 6,
    "bench.run": 5, "bench.report": 5,
    "bench.analysis": 4, "bench.speed": 4, "bench.gate": 4,
    "bench.metrics": 3, "detectors": 3,
    "bench.data": 2,
    "bench.masks": 1, "bench.native": 1,
}  # fmt: skip
BOTTOM = 1  # bench's own top-level modules (protocols, errors, jsonio, boxes, store, fmt, ov_splits)

# A core that calls its subset scorer, which calls the core back: both in bench.metrics.
ALLOWED_MODULE_CYCLES = {frozenset({"bench.metrics.core", "bench.metrics.groups"})}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every bench/detectors module ``path`` imports (``from bench.x import y`` counts as bench.x.y
    where bench/x/y.py exists, else bench.x), at module level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if _is_module(sub) else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.split(".")[0] in ("bench", "detectors")}


def _is_module(dotted: str) -> bool:
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def package_of(module: str) -> str:
    """The layer key a module belongs to: its package in LAYERS, or the module itself at the bottom."""
    for key in sorted(LAYERS, key=len, reverse=True):
        if module == key or module.startswith(key + "."):
            return key
    return module


def layer_of(module: str) -> int:
    return LAYERS.get(package_of(module), BOTTOM)


def graph() -> dict[str, set[str]]:
    files = sorted([*ROOT.glob("bench/**/*.py"), *ROOT.glob("detectors/**/*.py")])
    return {module_name(p): imports_of(p) for p in files}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """'a -> b' for every import of a module in a higher layer than the importer."""
    return sorted(f"{a} -> {b}" for a, deps in edges.items() for b in deps
                  if package_of(a) != package_of(b) and layer_of(b) > layer_of(a))  # fmt: skip


def cycles(edges: dict[str, set[str]], key=lambda m: m) -> list[frozenset]:
    """Strongly connected components (size > 1) of the graph with nodes mapped by ``key``."""
    g: dict[str, set[str]] = {}
    for a, deps in edges.items():
        g.setdefault(key(a), set()).update(key(b) for b in deps if key(b) != key(a))
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in list(g):
        if v not in index:
            visit(v)
    return out


def test_every_import_runs_downward():
    assert upward_imports(graph()) == []


def test_no_cycle_between_packages():
    assert cycles(graph(), key=package_of) == []


def test_no_module_cycle_but_the_listed_ones():
    assert [c for c in cycles(graph()) if c not in ALLOWED_MODULE_CYCLES] == []
    for c in ALLOWED_MODULE_CYCLES:
        assert len({package_of(m) for m in c}) == 1, f"an allowed cycle crosses packages: {sorted(c)}"


def test_the_checks_catch_the_imports_the_regroup_removed():
    """The four upward imports of the flat tree, written in the new names, each fail a check."""
    edges = graph()
    upward = {
        "bench.cli.run_all": "bench.__main__",  # bench all took max_detections from the entry point
        "bench.data.results": "bench.metrics.mask_iou",  # data climbed into metrics for mask packing
        "bench.run.unit": "bench.cli.explain",  # the engine took unit_analysis from a CLI module
    }
    for a, b in upward.items():
        bad = {k: set(v) for k, v in edges.items()}
        bad[a].add(b)
        assert f"{a} -> {b}" in upward_imports(bad)
    native_cycle = {k: set(v) for k, v in edges.items()}
    native_cycle["bench.native.kernels"].add("bench.metrics.backend")  # native <-> metrics.backend
    assert f"bench.native.kernels -> bench.metrics.backend" in upward_imports(native_cycle)
    assert cycles(native_cycle, key=package_of)
    subsets = {k: set(v) for k, v in edges.items()}
    subsets["bench.data.subsets"].add("bench.data.catalog")  # subsets <-> datasets
    assert frozenset({"bench.data.subsets", "bench.data.catalog"}) in cycles(subsets)


def test_every_package_says_its_job_and_what_it_may_import():
    for init in [*ROOT.glob("bench/**/__init__.py"), *ROOT.glob("detectors/**/__init__.py")]:
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        if init.parent.name not in ("embedded",) and init.parent != ROOT / "bench":
            assert "import" in doc.lower(), f"{init.relative_to(ROOT)}: say what the package may import"
