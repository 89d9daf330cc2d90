"""The layers, bottom up: model/mechanisms (pure) <- agents <- model (world) <- experiments <- viz.
No package imports one above it; a mechanism imports without the agents or Mesa."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: what each layer may import from the project (by top module or dotted prefix)
ALLOWED = {
    "model/mechanisms": ("model.mechanisms",),
    "agents": ("agents", "model.mechanisms"),
    "model": ("model", "agents"),
    "experiments": ("experiments", "model", "agents"),
    "viz": ("viz", "experiments", "model", "agents"),
}
PROJECT = ("model", "agents", "experiments", "viz")


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    return "model/mechanisms" if rel.startswith("model/mechanisms/") else rel.split("/", 1)[0]


def project_imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        out += [(node.lineno, n) for n in names if n.split(".")[0] in PROJECT]
    return out


def allowed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_no_package_imports_one_above_it():
    bad = []
    files = [p for d in PROJECT for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 60
    for path in files:
        layer = layer_of(path)
        for line, name in project_imports(path):
            if not allowed(name, ALLOWED[layer]):
                bad.append(f"{path.relative_to(ROOT)}:{line} ({layer}) imports {name}")
    assert not bad, "\n".join(bad)


def test_the_layer_check_catches_an_upward_import():
    fake = ROOT / "agents" / "x.py"
    assert not allowed("model.markets.hours", ALLOWED[layer_of(fake)])
    assert not allowed("viz.app", ALLOWED["experiments"])
    assert allowed("model.mechanisms.vocabulary", ALLOWED["agents"])


@pytest.mark.parametrize("module", ["model.mechanisms.clearing", "model.mechanisms.hours",
                                    "model.mechanisms.finance", "model.mechanisms.rules"])
def test_a_mechanism_imports_without_agents_or_mesa(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('agents', 'mesa', 'model.market') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"importing {module} also imported {out}"
