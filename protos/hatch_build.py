"""Hatch build hook: generate the gRPC stubs (with .pyi) before every build.

Also runs for editable installs, so `pip install -e .` leaves importable stubs.
The same generation is available without a build: `python protos/hatch_build.py`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

PROTOS_DIR = Path(__file__).resolve().parent


def generate_stubs(protos_dir: Path = PROTOS_DIR) -> list[Path]:
    """Run protoc on every .proto under protos/basketry; returns the generated files."""
    import grpc_tools
    from grpc_tools import protoc

    proto_files = sorted(protos_dir.glob("basketry/**/*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={protos_dir}",
        f"--proto_path={well_known}",
        f"--python_out={protos_dir}",
        f"--pyi_out={protos_dir}",
        f"--grpc_python_out={protos_dir}",
        *[str(p) for p in proto_files],
    ]
    # mypy-protobuf's plugin adds typed .pyi for the service stubs as well.
    grpc_plugin = _find_plugin("protoc-gen-mypy_grpc")
    if grpc_plugin:
        args.insert(1, f"--plugin=protoc-gen-mypy_grpc={grpc_plugin}")
        args.insert(2, f"--mypy_grpc_out={protos_dir}")
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {[p.name for p in proto_files]}")
    return sorted(protos_dir.glob("basketry/**/*_pb2*.py*"))


def _find_plugin(name: str) -> str | None:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(name)


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # only the standalone command below runs without hatchling
    BuildHookInterface = object  # type: ignore[misc,assignment]


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Generates the stubs into protos/basketry/v1/ before hatch collects files."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        generate_stubs(Path(self.root) / "protos")


if __name__ == "__main__":
    for path in generate_stubs():
        print(path.relative_to(PROTOS_DIR.parent))
    sys.exit(0)
