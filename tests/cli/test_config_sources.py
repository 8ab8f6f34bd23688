"""Options from flags, BASKETRY_* variables and a --config file, through `basketry`'s main:
precedence, checking by the option's own type and choices, and clear errors naming the source.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from basketry.cli.config_sources import options_of, parse_layered
from basketry.cli.main import main
from basketry.server import cli as server_cli


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BASKETRY_* variable of the machine running the tests leaks into them."""
    for name in os.environ:
        if name.startswith("BASKETRY_"):
            monkeypatch.delenv(name)


def effective(capsys: pytest.CaptureFixture[str], command: str, *argv: str) -> dict[str, Any]:
    """`basketry <command> --print-config …` parsed back: the command's table."""
    assert main([command, *argv, "--print-config"]) == 0, capsys.readouterr().err
    table: dict[str, Any] = tomllib.loads(capsys.readouterr().out)[command]
    return table


def failure(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one-line error of a command that exits 2 (no traceback)."""
    assert main([*argv, "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "b.toml",
        "[serve]\nsnapshot_dir = '/srv/s'\nport = 6000\nworkers = 3\ncache_ttl = 30\n",
    )
    monkeypatch.setenv("BASKETRY_PORT", "7000")
    monkeypatch.setenv("BASKETRY_WORKERS", "5")
    monkeypatch.setenv("BASKETRY_CACHE_TTL", "5")
    table = effective(
        capsys, "serve", "--config", str(config), "--workers", "9", "--cache-ttl", "60"
    )
    assert table["workers"] == 9  # flag over env and file
    assert table["cache_ttl"] == 60.0  # a flag equal to the default still wins
    assert table["port"] == 7000  # env over file
    assert table["snapshot_dir"] == "/srv/s"  # file (a required option)
    assert table["grace"] == 10.0  # built-in default


def test_the_config_file_may_be_named_by_basketry_config_and_keys_may_use_dashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "b.toml", "[serve]\nsnapshot-dir = 's'\ncache-max-entries = 7\n")
    monkeypatch.setenv("BASKETRY_CONFIG", str(config))
    table = effective(capsys, "serve")
    assert (table["snapshot_dir"], table["cache_max_entries"]) == ("s", 7)


def test_required_options_come_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASKETRY_SNAPSHOT_DIR", "/srv/snapshots")
    monkeypatch.setenv("BASKETRY_ORDERS", "a.csv 'b c.csv'")
    assert effective(capsys, "serve")["snapshot_dir"] == "/srv/snapshots"
    assert effective(capsys, "train")["orders"] == ["a.csv", "b c.csv"]


def test_a_required_option_given_nowhere_says_where_it_may_come_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve"])
    assert exited.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--snapshot-dir (or BASKETRY_SNAPSHOT_DIR, or snapshot_dir in the [serve] table" in err


def test_an_empty_environment_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASKETRY_PORT", "")
    assert effective(capsys, "serve", "--snapshot-dir", "s")["port"] == 50051


def test_lists_replace_rather_than_extend_and_switches_take_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASKETRY_ORDERS", "env.csv")
    monkeypatch.setenv("BASKETRY_QUIET", "yes")
    table = effective(capsys, "train", "--orders", "flag.csv", "--snapshot-dir", "s")
    assert table["orders"] == ["flag.csv"]
    assert table["quiet"] is True
    monkeypatch.delenv("BASKETRY_ORDERS")
    monkeypatch.setenv("BASKETRY_QUIET", "off")
    config = write(tmp_path / "t.toml", "[train]\norders = 'one.csv'\nsnapshot_dir = 's'\n")
    table = effective(capsys, "train", "--config", str(config))
    assert (table["orders"], table["quiet"]) == (["one.csv"], False)
    monkeypatch.setenv("BASKETRY_K", "5 50")
    assert effective(capsys, "evaluate", "--orders", "o.csv")["k"] == [5, 50]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BASKETRY_PORT", "http", "environment variable BASKETRY_PORT: invalid int value: 'http'"),
        ("BASKETRY_LOG_FORMAT", "xml", "BASKETRY_LOG_FORMAT: invalid choice: 'xml'"),
        ("BASKETRY_LOG_LEVEL", "loud", "BASKETRY_LOG_LEVEL: invalid choice: 'loud'"),
        ("BASKETRY_CACHE_TTL", "soon", "BASKETRY_CACHE_TTL: invalid float value: 'soon'"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    variable: str,
    value: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert message in failure(capsys, "serve", "--snapshot-dir", "s")


def test_a_bad_file_value_names_the_file_table_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "b.toml", "[train]\nkeep = 0\n")
    err = failure(capsys, "train", "--config", str(config), "--orders", "o", "--snapshot-dir", "s")
    assert f"{config}: [train] keep: must be at least 1, got 0" in err
    write(config, "[train]\nquiet = 'yes'\n")
    err = failure(capsys, "train", "--config", str(config), "--orders", "o", "--snapshot-dir", "s")
    assert f"{config}: [train] quiet: expected true or false" in err
    write(config, "[serve]\nport = 6000.5\n")
    err = failure(capsys, "serve", "--config", str(config), "--snapshot-dir", "s")
    assert f"{config}: [serve] port: invalid int value: '6000.5'" in err
    write(config, "[serve]\nhost = ['a', 'b']\n")
    err = failure(capsys, "serve", "--config", str(config), "--snapshot-dir", "s")
    assert "[serve] host: expected one value, got a list" in err


def test_unknown_keys_and_tables_are_refused_with_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "b.toml", "[serve]\ncache-tll = 5\n")
    err = failure(capsys, "serve", "--config", str(config), "--snapshot-dir", "s")
    assert "unknown key 'cache-tll' in [serve] (did you mean 'cache_ttl'?)" in err
    assert "valid keys: ann_min_rows, api_keys_file, cache_max_entries, cache_ttl," in err
    write(config, "[srve]\nport = 1\n")
    err = failure(capsys, "serve", "--config", str(config), "--snapshot-dir", "s")
    assert "unknown table [srve] (did you mean 'serve'?)" in err
    write(config, "port = 1\n")
    err = failure(capsys, "serve", "--config", str(config), "--snapshot-dir", "s")
    assert "top-level key 'port': options go in a table named after the command" in err
    write(config, "[serve]\ncache_ttl = 1\ncache-ttl = 2\n")
    assert "sets 'cache_ttl' twice" in failure(capsys, "serve", "--config", str(config))
    # The configuration options themselves are not settable from the file.
    write(config, "[serve]\nprint_config = true\n")
    assert "unknown key 'print_config'" in failure(capsys, "serve", "--config", str(config))


def test_a_missing_or_broken_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert f"config file {missing} does not exist" in failure(
        capsys, "serve", "--config", str(missing), "--snapshot-dir", "s"
    )
    broken = write(tmp_path / "broken.toml", "[serve\nport = 1\n")
    assert f"config file {broken} is not valid TOML" in failure(
        capsys, "serve", "--config", str(broken), "--snapshot-dir", "s"
    )


def test_tables_of_other_commands_may_share_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "b.toml", "[serve]\nport = 6001\n\n[train]\nkeep = 9\n\n[publish]\n")
    table = effective(capsys, "serve", "--config", str(config), "--snapshot-dir", "s")
    assert table["port"] == 6001


def test_print_config_round_trips_through_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASKETRY_CANCELLATION_PREFIX", 'X"\\')
    argv = ["--orders", "a b.csv", "--orders", "c.csv", "--snapshot-dir", "s", "--quiet"]
    for command, extra in (
        ("train", [*argv, "--factors", "8", "--alpha", "1.5", "--preset", "online-retail"]),
        ("serve", ["--snapshot-dir", "s", "--metrics-port", "0", "--rotation-days", "0.5"]),
        ("evaluate", ["--orders", "o.csv", "--k", "3", "7", "--cutoff", "2011-09-01"]),
    ):
        first = effective(capsys, command, *extra)
        printed = tmp_path / f"{command}.toml"
        assert main([command, *extra, "--print-config"]) == 0
        printed.write_text(capsys.readouterr().out, encoding="utf-8")
        assert effective(capsys, command, "--config", str(printed)) == first


def test_print_config_checks_the_server_settings_as_a_start_would(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASKETRY_CACHE_TTL", "-1")
    err = failure(capsys, "serve", "--snapshot-dir", "s")
    assert "invalid server settings: cache_ttl must be a non-negative number" in err


def test_secrets_come_from_the_environment_or_the_file_and_are_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASKETRY_REDIS_URL", "redis://app:url-secret@redis:6379/0")
    monkeypatch.setenv("BASKETRY_REDIS_PASSWORD", "env-secret")
    assert main(["serve", "--snapshot-dir", "s", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "url-secret" not in out and "env-secret" not in out
    table = tomllib.loads(out)["serve"]
    assert table["redis_url"] == "redis://app:REDACTED@redis:6379/0"
    assert "redis_password" not in table
    assert "# redis_password: set, not shown (env BASKETRY_REDIS_PASSWORD)" in out
    # A password flag does not exist: it would show in the process list.
    with pytest.raises(SystemExit):
        main(["serve", "--snapshot-dir", "s", "--redis-password", "x"])
    capsys.readouterr()
    monkeypatch.delenv("BASKETRY_REDIS_PASSWORD")
    config = write(tmp_path / "b.toml", "[serve]\nredis_password = 'file-secret'\n")
    assert main(["serve", "--snapshot-dir", "s", "--config", str(config), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "file-secret" not in out
    assert f"# redis_password: set, not shown (file {config})" in out


def test_the_secret_reaches_the_server_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "b.toml", "[serve]\nredis_password = 'pw'\nredis_url = 'redis://r'\n")
    parser = argparse.ArgumentParser()
    server_cli.configure("serve", parser)
    parser.add_argument("--config", type=Path)
    layered = parse_layered(
        parser,
        ["--snapshot-dir", "s", "--config", str(config)],
        options_of(parser),
        table="serve",
        tables=("serve",),
        secrets=("redis_password",),
        environ={},
    )
    settings = server_cli.settings_from_args(layered.args)
    assert (settings.redis_url, settings.redis_password) == ("redis://r", "pw")
    assert "pw" not in repr(settings)


def test_client_query_commands_keep_flags_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["recommend", "--customer", "c1", "--config", "b.toml"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --config" in capsys.readouterr().err
    # Their log options do follow the environment.
    monkeypatch.setenv("BASKETRY_LOG_LEVEL", "shout")
    assert main(["model-info"]) == 2
    assert "BASKETRY_LOG_LEVEL: invalid choice: 'shout'" in capsys.readouterr().err
