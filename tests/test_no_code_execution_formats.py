"""No pickle or other code-executing format anywhere in the shipped code.

Every Python file of service/, training/, clients/, protos/ (hand-written), bench/,
examples/ and deploy/ is parsed, and each use of a format or call that can run code while
reading data fails the test with its file:line: pickle and its relatives (cPickle, dill,
cloudpickle, marshal, shelve), joblib.load, torch.load, pandas read_pickle/to_pickle,
allow_pickle= anything but False, yaml.load without a safe loader (and yaml's unsafe
loaders), eval and exec. The snapshot side of the rule (an object array is refused rather
than unpickled) is tested in tests/server/test_snapshot_refusals.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("service", "training", "clients", "protos", "bench", "examples", "deploy")
GENERATED = ("_pb2.py", "_pb2_grpc.py")  # protoc output, rebuilt from the .proto

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve"}
# (module, function) pairs that unpickle, however they are imported.
FORBIDDEN_FUNCTIONS = {
    ("joblib", "load"),
    ("torch", "load"),
    ("pandas", "read_pickle"),
    ("yaml", "unsafe_load"),
    ("yaml", "unsafe_load_all"),
    ("yaml", "full_load"),
    ("yaml", "full_load_all"),
}
FORBIDDEN_METHODS = {"read_pickle", "to_pickle"}  # pandas objects, whatever their name
FORBIDDEN_BUILTINS = {"eval", "exec"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def shipped_python_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name.endswith(GENERATED) or ".venv" in path.parts:
                continue
            files.append(path)
    return files


def findings(source: str, filename: str) -> list[str]:
    """`filename:line: what` for every code-executing use in `source`."""
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> "module" or "module.function"

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    report(node, f"import {alias.name}")
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module.split(".")[0]
            if module in FORBIDDEN_MODULES:
                report(node, f"from {node.module} import ...")
            for alias in node.names:
                if (module, alias.name) in FORBIDDEN_FUNCTIONS:
                    report(node, f"from {node.module} import {alias.name}")
                aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):  # after every import is known, whatever the order
        if isinstance(node, ast.Call):
            found.extend(_call_findings(node, aliases, filename))
    return sorted(set(found))


def _call_findings(call: ast.Call, aliases: dict[str, str], filename: str) -> list[str]:
    where = f"{filename}:{call.lineno}"
    name = _dotted(call.func, aliases)
    module, _, function = name.rpartition(".")
    problems = []
    if name in FORBIDDEN_BUILTINS or name in {f"builtins.{b}" for b in FORBIDDEN_BUILTINS}:
        problems.append(f"{where}: {name}() runs code")
    if (module.split(".")[0], function) in FORBIDDEN_FUNCTIONS:
        problems.append(f"{where}: {name}() unpickles or runs code")
    if isinstance(call.func, ast.Attribute) and call.func.attr in FORBIDDEN_METHODS:
        problems.append(f"{where}: .{call.func.attr}() is pickle")
    for keyword in call.keywords:
        if keyword.arg == "allow_pickle" and not (
            isinstance(keyword.value, ast.Constant) and keyword.value.value is False
        ):
            problems.append(f"{where}: allow_pickle={ast.unparse(keyword.value)}")
    if module.split(".")[0] == "yaml" and function in {"load", "load_all"}:
        loader = next((k.value for k in call.keywords if k.arg == "Loader"), None)
        if loader is None and len(call.args) > 1:
            loader = call.args[1]
        if loader is None or _dotted(loader, aliases).rpartition(".")[2] not in SAFE_YAML_LOADERS:
            problems.append(f"{where}: {name}() without a safe Loader")
    return problems


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str:
    """`a.b.c` for a Name/Attribute chain, its first part resolved through the imports."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def test_the_shipped_code_uses_no_code_executing_format() -> None:
    files = shipped_python_files()
    assert len(files) > 100  # the scan sees the whole tree, not an empty glob
    problems = [
        problem
        for path in files
        for problem in findings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "import cPickle as p",
        "from pickle import loads",
        "import dill",
        "import marshal",
        "import shelve",
        "from joblib import load\nload('m.pkl')",
        "import joblib\njoblib.load('m.pkl')",
        "import torch\ntorch.load('m.pt')",
        "import pandas as pd\npd.read_pickle('f')",
        "frame.to_pickle('f')",
        "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
        "import numpy as np\nnp.load('a.npy', allow_pickle=flag)",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.Loader)",
        "import yaml\nyaml.load(text, yaml.UnsafeLoader)",
        "import yaml\nyaml.unsafe_load(text)",
        "from yaml import full_load",
        "eval('1 + 1')",
        "exec('x = 1')",
        "import builtins\nbuiltins.eval('1')",
    ],
)
def test_the_scan_finds(source: str) -> None:
    assert findings(source, "example.py"), source


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nnp.load('a.npy', mmap_mode='r', allow_pickle=False)",
        "import numpy as np\nnp.save(handle, array, allow_pickle=False)",
        "import yaml\nyaml.safe_load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "from yaml import CSafeLoader, load\nload(text, CSafeLoader)",
        "import ast\nast.literal_eval('[1]')",
        "model.eval()",
        "import json\njson.loads('{}')",
        "# import pickle would be wrong here\nx = 'eval(1)'",
    ],
)
def test_the_scan_lets_safe_code_pass(source: str) -> None:
    assert findings(source, "example.py") == []
