"""The shape of the house (issue: one home per stage): no import cycle among the
repository's modules, no module outside tests/ over 350 lines, no function over 50, and
each stage of docs/data_flow.md in its own folder."""
import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 350, 50
STAGES = ("experiments/launching", "experiments/evaluating", "experiments/rendering")


def modules() -> dict:
    """{dotted name: path} of every Python file of the repository outside tests/."""
    found = {}
    for path in sorted(REPO_ROOT.rglob("*.py")):
        relative = path.relative_to(REPO_ROOT)
        if relative.parts[0] in ("tests", ".venv") or relative.parts[0].startswith("."):
            continue
        name = ".".join(relative.with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imported(path: Path, names) -> set:
    """The repository modules `path` imports anywhere in it (function bodies too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out.update(c for c in candidates if c in names)
    return out


def cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(name, stack):
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state:
                found = visit(other, stack + [other])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return None


def test_no_import_cycle():
    found = modules()
    graph = {name: imported(path, found) - {name} for name, path in found.items()}
    assert graph["experiments.cli"], "the import graph was not read"
    assert cycle(graph) is None, f"import cycle: {' -> '.join(cycle(graph))}"


def test_the_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_long_module_and_no_long_function():
    too_long = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert not too_long, "; ".join(too_long)


def test_each_stage_has_its_folder():
    for stage in STAGES:
        assert (REPO_ROOT / stage / "__init__.py").is_file(), stage
    assert not sorted((REPO_ROOT / "experiments").glob("*_eval.py"))
