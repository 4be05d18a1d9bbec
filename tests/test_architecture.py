"""The import graph of the package (README, module map): no cycle, nothing imported inside a
function to hide one, and the training tasks imported by the loop (and the ensemble's fits) alone."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "facekp")


def _module_name(path):
    relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
    return relative[: -len(".__init__")] if relative.endswith(".__init__") else relative


def _imported(node, module, is_package):
    """The facekp modules an import statement names (`from facekp import a, b` names facekp.a, facekp.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith("facekp")]
    base = node.module or ""
    if node.level:  # relative import
        parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(parts + ([base] if base else []))
    if not base.startswith("facekp"):
        return []
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_graph():
    """{module: (facekp modules it imports at its top level, facekp imports inside functions)}."""
    modules = {}
    for root, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(root, file)
                modules[_module_name(path)] = path
    graph = {}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        top, nested = set(), []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = {n for n in _imported(node, module, path.endswith("__init__.py")) if n in modules}
                (top.update(names) if node.col_offset == 0 else nested.extend(names))
        graph[module] = (top - {module}, nested)
    return graph


def _cycle(graph):
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph[module][0]):
            if state.get(target) == "open":
                return stack + [module, target]
            if target not in state:
                found = visit(target, stack + [module])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [])
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    assert _cycle(import_graph()) is None


def test_no_facekp_import_hides_inside_a_function():
    graph = import_graph()
    assert {m: nested for m, (_, nested) in graph.items() if nested} == {}


def test_only_the_training_loop_imports_the_tasks():
    graph = import_graph()
    importers = {
        m
        for m, (top, _) in graph.items()
        if any(t == "facekp.tasks" or t.startswith("facekp.tasks.") for t in top) and not m.startswith("facekp.tasks")
    }
    # the loop, train.py's program, and the ensemble (it runs the embedding task's after-training fits)
    assert importers == {"facekp.train_loop", "facekp.commands.train", "facekp.ensemble"}
