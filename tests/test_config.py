from pathlib import Path

import pytest

from parloir import ConfigError, Settings
from parloir.config import default_home, normalize_database_url


def test_parloir_database_url_wins_over_database_url():
    env = {"PARLOIR_DATABASE_URL": "sqlite:///a.db", "DATABASE_URL": "sqlite:///b.db"}
    assert Settings.from_env(env).database_url == "sqlite:///a.db"
    assert Settings.from_env({"DATABASE_URL": "sqlite:///b.db"}).database_url == "sqlite:///b.db"


def test_default_is_a_sqlite_file_in_the_home_folder(tmp_path):
    settings = Settings.from_env({"PARLOIR_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'parloir.db'}"
    assert settings.sqlite_synchronous == "FULL"


def test_home_follows_xdg_data_home(tmp_path):
    assert default_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "parloir"
    assert default_home({}) == Path.home() / ".local" / "share" / "parloir"


@pytest.mark.parametrize("prefix", ["postgres://", "postgresql://"])
def test_postgres_urls_use_psycopg(prefix):
    assert normalize_database_url(prefix + "u@h/db") == "postgresql+psycopg://u@h/db"


def test_unsupported_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="unsupported"):
        Settings(database_url="mysql://x/y")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PARLOIR_SQLITE_SYNCHRONOUS", "OFF"),
        ("PARLOIR_BUSY_TIMEOUT_MS", "soon"),
        ("PARLOIR_MAX_CONTENT_LENGTH", "big"),
        ("PARLOIR_CAPTURE_PROMPTS", "maybe"),
    ],
)
def test_bad_environment_values_are_named(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_environment_options_are_read():
    settings = Settings.from_env(
        {
            "PARLOIR_SQLITE_SYNCHRONOUS": "normal",
            "PARLOIR_BUSY_TIMEOUT_MS": "7000",
            "PARLOIR_MAX_CONTENT_LENGTH": "100",
            "PARLOIR_CAPTURE_PROMPTS": "false",
            "PARLOIR_LOG_LEVEL": "info",
        }
    )
    assert settings.sqlite_synchronous == "NORMAL"
    assert settings.busy_timeout_ms == 7000
    assert settings.max_content_length == 100
    assert settings.capture_prompts is False
    assert settings.log_level == "INFO"


def test_invalid_settings_are_refused():
    with pytest.raises(ConfigError):
        Settings(database_url="sqlite:///x.db", sqlite_synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Settings(database_url="sqlite:///x.db", max_content_length=0)
