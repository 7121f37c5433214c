"""The node's settings from a TOML file (--config / EUCAIM_NODE_CONFIG), with the environment winning."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eucaim.errors import ConfigError
from eucaim.node.cli import app
from eucaim.node.settings import Settings


def _write_config(path: Path, data: Path, database: Path) -> Path:
    path.write_text(
        f'data_dir = "{data}"\n'
        f'database_url = "sqlite:///{database}"\n'
        "suppression_threshold = 11\n"
        'metrics_token = "from-the-file"\n'
        "[oidc]\n"
    )
    return path


def test_file_values_apply_and_environment_variables_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write_config(tmp_path / "node.toml", tmp_path / "data", tmp_path / "file.db")
    monkeypatch.setenv("EUCAIM_NODE_CONFIG", str(config))
    monkeypatch.setenv("EUCAIM_NODE_SUPPRESSION_THRESHOLD", "7")
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'file.db'}"
    assert settings.suppression_threshold == 7  # the environment beats the file
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "from-the-file"
    assert "from-the-file" not in repr(settings)  # a secret never shows in a repr or a log line


def test_cli_config_option_is_read_and_the_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recorded so the variable the CLI sets is removed again after the test.
    monkeypatch.setenv("EUCAIM_NODE_CONFIG", "")
    config = _write_config(tmp_path / "node.toml", tmp_path / "data", tmp_path / "file.db")
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "file.db").is_file()

    monkeypatch.setenv("EUCAIM_NODE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").is_file()


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EUCAIM_NODE_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match=r"absent\.toml does not exist"):
        Settings()
