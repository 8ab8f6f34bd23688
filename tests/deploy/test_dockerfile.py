"""The Dockerfile, checked without a container engine.

Its build stage is replayed on a copy of the build context (.dockerignore applied, the
stage's COPY lines): the wheel it builds must hold the generated stubs and every part of
the `basketry` namespace. That wheel is installed into a venv at the path the runtime stage
copies, and the image's own ENTRYPOINT, CMD, ENV, config file and HEALTHCHECK run against a
real server; only the snapshot and metrics paths and the ports are test ones.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from basketry.server.settings import ServerSettings

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # generous: the machine is shared; every wait polls


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str  # continuation lines joined
    heredoc: str | None = None  # the inline document of COPY <<EOF


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order: comments and blank lines dropped, continuations joined."""
    instructions: list[Instruction] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [line]
        while parts[-1].endswith("\\"):
            parts[-1] = parts[-1][:-1]
            following = next(lines)
            if following.lstrip().startswith("#"):
                parts.append("\\")  # a comment inside a continuation is dropped
                continue
            parts.append(following)
        keyword, _, arguments = " ".join(p.strip() for p in parts).partition(" ")
        heredoc = None
        marker = re.search(r"<<-?(['\"]?)(\w+)\1", arguments)
        if marker:
            body = []
            for following in lines:
                if following == marker.group(2):
                    break
                body.append(following)
            heredoc = "\n".join(body) + "\n"
        instructions.append(Instruction(keyword.upper(), arguments.strip(), heredoc))
    return instructions


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def stages_of(instructions: list[Instruction]) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages (FROM resolved against those ARGs)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name, []))
        elif not stages and instruction.keyword == "ARG":
            key, _, default = instruction.arguments.partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append(instruction)
    return args, stages


def env_of(stage: Stage, path: str) -> dict[str, str]:
    """The stage's ENV settings; $PATH expands to `path`."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for word in shlex.split(instruction.arguments):
            key, _, value = word.partition("=")
            env[key] = value.replace("$PATH", path)
    return env


def healthcheck_of(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK options (--interval=10s, ...) and its exec-form command."""
    options, _, command = stage.last("HEALTHCHECK").arguments.partition(" CMD ")
    flags = dict(word.removeprefix("--").split("=", 1) for word in options.split())
    return flags, json.loads(command)


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # Docker's matching: "*" and "?" stay within one path element, "**" spans several.
    out = ""
    i = 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `relative` (posix, from the repo root) out of the context.

    A path is out when it or a folder holding it matches; the last matching pattern wins
    ("!pattern" lets a path back in).
    """
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!"))
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return stages_of(parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8")))


def build_stage(stages: list[Stage]) -> Stage:
    return next(stage for stage in stages if stage.name == "build")


def copy_context(stage: Stage, target: Path) -> None:
    """What the stage's plain COPY lines put in its WORKDIR, from the filtered context."""
    patterns = dockerignore_patterns()
    for instruction in stage.all("COPY"):
        if instruction.arguments.startswith("--"):
            continue  # COPY --from=...: not from the context
        *sources, destination = instruction.arguments.split()
        for source in sources:
            path = REPO / source
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                if ignored(relative, patterns):
                    continue
                inside = file.relative_to(path) if path.is_dir() else Path(file.name)
                copied = target / destination / inside
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, copied)


@dataclass(frozen=True)
class Image:
    """The runtime stage, replayed: its venv, environment, config file and work dir."""

    wheel: Path
    venv: Path
    env: dict[str, str]
    config: dict[str, dict[str, object]]
    home: Path

    def argv(self, command: list[str]) -> list[str]:
        """`command` with its program found on the image's PATH (as the engine does)."""
        program = shutil.which(command[0], path=self.env["PATH"])
        assert program is not None, f"{command[0]} not on the image's PATH"
        return [program, *command[1:]]

    def run(
        self, command: list[str], timeout: float = DEADLINE
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command),
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def image(
    dockerfile: tuple[dict[str, str], list[Stage]], tmp_path_factory: pytest.TempPathFactory
) -> Image:
    _, stages = dockerfile
    build, runtime = build_stage(stages), stages[-1]
    work = tmp_path_factory.mktemp("image")
    source = work / "src"
    copy_context(build, source)
    dist = work / "dist"
    if importlib.util.find_spec("build") is not None:
        command = [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
        ]
    else:  # the same hatchling backend, through pip, without fetching anything
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        command += ["--no-index", "--wheel-dir", str(dist), "."]
    built = subprocess.run(command, cwd=source, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("basketry-*.whl")

    # The runtime stage copies the build stage's venv to the same path; here it is a test
    # path, and the dependencies come from this interpreter's site-packages (a .pth line,
    # which does not run the editable install's own .pth hooks) instead of a fresh install.
    copied = next(i for i in runtime.all("COPY") if i.arguments.startswith("--from=build"))
    venv_path = copied.arguments.split()[-1]
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    install += ["install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    where = [str(venv / "bin" / "python"), "-c", purelib]
    site = Path(subprocess.run(where, capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith("BASKETRY_")}
    image_env = env_of(runtime, env["PATH"])
    env.update({k: v.replace(venv_path, str(venv)) for k, v in image_env.items()})
    (config_copy,) = [i for i in runtime.all("COPY") if i.heredoc is not None]
    config_path = config_copy.arguments.split()[-1]
    assert image_env["BASKETRY_CONFIG"] == config_path
    # Only the paths change: /snapshots and /metrics become test folders.
    data = work / "data"
    document = config_copy.heredoc.replace('"/snapshots', f'"{data}/snapshots')  # type: ignore[union-attr]
    document = document.replace('"/metrics/', f'"{data}/metrics/')
    for folder in ("snapshots", "metrics", "home"):
        (data / folder).mkdir(parents=True)
    test_config = work / "basketry.toml"
    test_config.write_text(document, encoding="utf-8")
    env["BASKETRY_CONFIG"] = str(test_config)
    return Image(wheel, venv, env, tomllib.loads(document), data / "home")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the file itself


def test_base_image_is_a_pinned_slim_python(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", stage.base), stage.base
    assert "PYTHON_IMAGE" in args


def test_runtime_stage_runs_as_non_root_without_build_tools(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    user = runtime.last("USER").arguments.split(":")[0]
    assert user not in ("root", "0")
    runs = " ".join(i.arguments for i in runtime.all("RUN"))
    assert f"--uid {user}" in runs  # the user exists, with that numeric id
    for tool in ("pip install", "apt-get", "gcc", "build-essential", "python -m build"):
        assert tool not in runs, f"{tool!r} in the runtime stage"
    # The user is set before anything runs as it: ENTRYPOINT, CMD and HEALTHCHECK follow.
    keywords = [i.keyword for i in runtime.instructions]
    assert keywords.index("USER") < min(
        keywords.index(k) for k in ("ENTRYPOINT", "CMD", "HEALTHCHECK")
    )


def test_entrypoint_cmd_and_ports_match_the_server_defaults(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    assert json.loads(runtime.last("ENTRYPOINT").arguments) == ["basketry"]
    assert json.loads(runtime.last("CMD").arguments)[0] == "serve"
    defaults = ServerSettings(snapshot_dir=Path("."))
    exposed = {int(port) for port in runtime.last("EXPOSE").arguments.split()}
    assert exposed == {defaults.port, defaults.metrics_port}
    flags, command = healthcheck_of(runtime)
    assert set(flags) >= {"interval", "timeout", "start-period", "retries"}
    assert command[:2] == ["python", "-c"]
    assert str(defaults.port) in command[2] and "BASKETRY_PORT" in command[2]


def test_dockerignore_keeps_stubs_and_local_state_out_but_every_source_in() -> None:
    patterns = dockerignore_patterns()
    for path in (
        "protos/basketry/v1/recommender_pb2.py",
        "protos/basketry/v1/recommender_pb2_grpc.pyi",
        ".venv/bin/python",
        "service/basketry/server/__pycache__/app.cpython-311.pyc",
        "tests/conftest.py",
        ".git/HEAD",
        "examples/data/online_retail.csv.gz",
        "textfile/basketry_training.prom",
    ):
        assert ignored(path, patterns), path
    for path in (
        "pyproject.toml",
        "README.md",
        "protos/hatch_build.py",
        "protos/basketry/v1/recommender.proto",
        "service/basketry/server/app.py",
        "training/basketry/training/cli.py",
        "clients/basketry/cli/main.py",
    ):
        assert not ignored(path, patterns), path


# --- what the build stage builds


def test_the_wheel_holds_the_generated_stubs_and_the_whole_namespace(image: Image) -> None:
    names = set(zipfile.ZipFile(image.wheel).namelist())
    for stub in ("recommender_pb2.py", "recommender_pb2.pyi", "recommender_pb2_grpc.py"):
        assert f"basketry/v1/{stub}" in names  # generated at build: the context has none
    for module in (
        "basketry/snapshot/__init__.py",
        "basketry/server/app.py",
        "basketry/training/cli.py",
        "basketry/training/metrics_file.py",
        "basketry/client/__init__.py",
        "basketry/cli/main.py",
    ):
        assert module in names, module
    assert "basketry/__init__.py" not in names  # one namespace over the four trees
    assert not any(name.startswith("tests/") or "__pycache__" in name for name in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(image.wheel).read(entry_points).decode()
    assert "basketry = basketry.cli.main:main" in text


def test_the_image_runs_the_wheel_not_the_source_tree(image: Image) -> None:
    probe = "import basketry.server.app as a, basketry.v1.recommender_pb2 as p\n"
    probe += "print(a.__file__, p.__file__)"
    shown = image.run(["python", "-c", probe])
    assert shown.returncode == 0, shown.stderr
    for path in shown.stdout.split():
        assert Path(path).is_relative_to(image.venv), path


def test_every_table_of_the_image_config_is_accepted(image: Image) -> None:
    assert image.config["serve"]["host"] == "0.0.0.0"
    required = {"train": ["--orders", "o.csv"], "evaluate": ["--orders", "o.csv"]}
    for command in image.config:
        printed = image.run(["basketry", command, *required.get(command, []), "--print-config"])
        assert printed.returncode == 0, f"{command}: {printed.stderr}"
        for key, value in image.config[command].items():
            assert f"{key} = {json.dumps(value)}" in printed.stdout, (command, printed.stdout)


# --- the default command, training from the image, and the health check


@pytest.fixture
def serving(
    dockerfile: tuple[dict[str, str], list[Stage]], image: Image
) -> Iterator[tuple[Image, subprocess.Popen[bytes], int]]:
    """ENTRYPOINT + CMD running on test ports (from the environment) until the test ends."""
    runtime = dockerfile[1][-1]
    command = json.loads(runtime.last("ENTRYPOINT").arguments) + json.loads(
        runtime.last("CMD").arguments
    )
    port, metrics_port = free_port(), free_port()
    env = {**image.env, "BASKETRY_PORT": str(port), "BASKETRY_METRICS_PORT": str(metrics_port)}
    started = Image(image.wheel, image.venv, env, image.config, image.home)
    log = (image.home / "serve.log").open("wb")
    process = subprocess.Popen(
        started.argv(command), env=env, cwd=image.home, stdout=log, stderr=log
    )
    try:
        yield started, process, metrics_port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=DEADLINE)
        log.close()


def write_orders(path: Path) -> Path:
    """A few orders of three customers: enough for a snapshot."""
    rows = ["order_id,customer_id,item_id,quantity,timestamp"]
    for n, (customer, items) in enumerate(
        [("c1", "AB"), ("c2", "AC"), ("c1", "BC"), ("c3", "ABD"), ("c2", "CD"), ("c3", "AD")]
    ):
        rows += [f"o{n},{customer},{item},1,2024-01-0{n + 1} 10:00:00" for item in items]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def health(image: Image, healthcheck: list[str]) -> subprocess.CompletedProcess[str]:
    return image.run(healthcheck, timeout=30)


def wait_for(image: Image, healthcheck: list[str], *, exit_ok: bool, says: str = "") -> str:
    """Poll the health check until it exits 0 (exit_ok) or non-zero saying `says`."""
    deadline = time.monotonic() + DEADLINE
    while True:
        result = health(image, healthcheck)
        if (result.returncode == 0) == exit_ok and says in result.stderr:
            return result.stderr
        assert time.monotonic() < deadline, (
            f"health check still: {result.returncode} {result.stderr}"
        )
        time.sleep(0.2)


def test_health_check_follows_the_server_and_train_runs_from_the_image(
    dockerfile: tuple[dict[str, str], list[Stage]],
    serving: tuple[Image, subprocess.Popen[bytes], int],
    tmp_path: Path,
) -> None:
    image, process, metrics_port = serving
    _, healthcheck = healthcheck_of(dockerfile[1][-1])
    # Up, but no snapshot published yet: unhealthy.
    said = wait_for(image, healthcheck, exit_ok=False, says="NOT_SERVING")
    assert "unhealthy" in said

    orders = write_orders(tmp_path / "orders.csv")
    trained = image.run(["basketry", "train", "--orders", str(orders), "--quiet",
                         "--factors", "4", "--iterations", "2", "--threads", "1"])  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    snapshots = Path(str(image.config["train"]["snapshot_dir"]))
    assert Path(trained.stdout.strip()).parent == snapshots
    assert Path(str(image.config["train"]["metrics_file"])).is_file()

    wait_for(image, healthcheck, exit_ok=True)  # the server found the snapshot
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        assert b"basketry_" in reply.read()

    process.send_signal(signal.SIGTERM)  # docker stop
    assert process.wait(timeout=DEADLINE) == 0
    result = health(image, healthcheck)
    assert result.returncode != 0 and "UNAVAILABLE" in result.stderr
