from __future__ import annotations

from pathlib import Path

import pytest

from hsctl.errors import ConfigError, ExitCode
from hsctl.settings import Settings, load_settings, nest, settings_table, unknown_variables


def test_defaults_have_default_source():
    loaded = load_settings()
    assert loaded.settings.data.source == "thefrankhsu/hate_speech_twitter"
    assert loaded.source_of("train.epochs") == "default"
    assert loaded.settings.paths.processed_dir == Path("artifacts/data/processed")


def test_every_field_is_described():
    def walk(model: type, prefix: str = "") -> list[str]:
        missing = []
        for name, info in model.model_fields.items():
            if not info.description:
                missing.append(prefix + name)
            ann = info.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                missing += walk(ann, f"{prefix}{name}.")
        return missing

    assert walk(Settings) == []


def test_layers_in_precedence_order(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    (isolated / "hsctl.toml").write_text(
        "[train]\nepochs = 2\nbatch_size = 8\nlearning_rate = 1e-4\n[data]\nseed_unused = 1\n"
    )
    with pytest.raises(ConfigError, match="seed_unused"):
        load_settings()
    (isolated / "hsctl.toml").write_text("[train]\nepochs = 2\nbatch_size = 8\nlearning_rate = 1e-4\nseed = 5\n")
    (isolated / ".env").write_text("HSCTL_TRAIN__BATCH_SIZE=16\nHSCTL_TRAIN__LEARNING_RATE=2e-4\nOTHER=1\n")
    monkeypatch.setenv("HSCTL_TRAIN__LEARNING_RATE", "3e-4")
    monkeypatch.setenv("HSCTL_TRAIN__SEED", "6")
    loaded = load_settings({"train.seed": 7, "train.max_length": None})
    train = loaded.settings.train
    assert (train.epochs, train.batch_size, train.learning_rate, train.seed) == (2, 16, 3e-4, 7)
    assert loaded.source_of("train.epochs") == "hsctl.toml"
    assert loaded.source_of("train.batch_size") == ".env"
    assert loaded.source_of("train.learning_rate") == "HSCTL_TRAIN__LEARNING_RATE"
    assert loaded.source_of("train.seed") == "cli"
    assert loaded.source_of("train.max_length") == "default"


def test_explicit_files(isolated: Path):
    cfg = isolated / "custom.toml"
    cfg.write_text('[paths]\nartifacts = "out"\n')
    env = isolated / "prod.env"
    env.write_text("HSCTL_SERVE__PORT=9001\n")
    loaded = load_settings(config_file=cfg, env_file=env)
    assert loaded.settings.paths.models_dir == Path("out/models")
    assert loaded.settings.serve.port == 9001
    assert loaded.source_of("serve.port") == str(env)
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(config_file=isolated / "missing.toml")
    with pytest.raises(ConfigError, match="env file not found"):
        load_settings(env_file=isolated / "missing.env")


def test_invalid_values_list_every_field_with_source(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HSCTL_TRAIN__EPOCHS", "-1")
    with pytest.raises(ConfigError) as info:
        load_settings({"serve.port": 70000, "data.split.validation_size": 0.7})
    message = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE
    assert "3 errors" in message
    assert "train.epochs" in message and "HSCTL_TRAIN__EPOCHS" in message
    assert "serve.port" in message and "[from cli]" in message
    assert "data.split.validation_size" in message


def test_split_sizes_must_leave_training_rows():
    with pytest.raises(ConfigError, match="leave at least 10%"):
        load_settings({"data.split.validation_size": 0.45, "data.split.test_size": 0.45})


def test_malformed_toml_is_a_config_error(isolated: Path):
    (isolated / "hsctl.toml").write_text("[train\nepochs = ")
    with pytest.raises(ConfigError, match="cannot read settings"):
        load_settings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("hate=1,non-hate=0", {"hate": 1, "non-hate": 0}), (" yes = 1 , no=0 ", {"yes": 1, "no": 0}), ("", None)],
)
def test_label_map_from_env(monkeypatch: pytest.MonkeyPatch, raw: str, expected: dict[str, int] | None):
    monkeypatch.setenv("HSCTL_DATA__LABEL_MAP", raw)
    assert load_settings().settings.data.label_map == expected


def test_bad_label_map_is_rejected():
    with pytest.raises(ConfigError, match="NAME=INT"):
        load_settings({"data.label_map": "hate"})
    with pytest.raises(ConfigError, match="label_map"):
        load_settings({"data.label_map": "hate=yes"})


def test_nest_skips_none():
    assert nest({"a.b": 1, "a.c": None, "d": 2}) == {"a": {"b": 1}, "d": 2}


def test_table_masks_secrets_and_lists_derived_paths(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HSCTL_SERVE__API_KEY", "s3cret")
    rows = {key: (value, source) for key, value, source in settings_table(load_settings())}
    assert rows["serve.api_key"] == ("**********", "HSCTL_SERVE__API_KEY")
    assert rows["paths.raw_dir"][0] == str(Path("artifacts/data/raw"))
    assert "s3cret" not in repr(rows)


@pytest.mark.parametrize("value", ["", " ", "\t \n"])
def test_an_empty_or_blank_secret_is_an_error_from_every_layer(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, value: str
):
    """An empty API key would compare equal to a missing one: auth off while the API advertises it."""
    layers = [
        ("toml", lambda: (isolated / "hsctl.toml").write_text(f"[serve]\napi_key = {value!r}\n".replace("'", '"'))),
        ("env", lambda: monkeypatch.setenv("HSCTL_SERVE__API_KEY", value)),
        (".env", lambda: (isolated / ".env").write_text(f'HSCTL_SERVE__API_KEY="{value}"\n')),
    ]
    for name, apply in layers:
        for leftover in ("hsctl.toml", ".env"):
            (isolated / leftover).unlink(missing_ok=True)
        monkeypatch.delenv("HSCTL_SERVE__API_KEY", raising=False)
        apply()
        with pytest.raises(ConfigError, match=r"serve\.api_key: .*must not be empty or blank") as info:
            load_settings()
        assert info.value.exit_code == ExitCode.USAGE, name
    for leftover in ("hsctl.toml", ".env"):
        (isolated / leftover).unlink(missing_ok=True)
    monkeypatch.delenv("HSCTL_SERVE__API_KEY", raising=False)
    with pytest.raises(ConfigError, match="must not be empty or blank"):
        load_settings({"serve.api_key": value})  # a flag


def test_every_secret_setting_rejects_blank_values_and_never_shows_them():
    def secrets(model: type, prefix: str = "") -> list[str]:
        found = []
        for name, info in model.model_fields.items():
            if "SecretStr" in str(info.annotation):
                found.append(prefix + name)
            elif isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields"):
                found += secrets(info.annotation, f"{prefix}{name}.")
        return found

    keys = secrets(Settings)
    assert "serve.api_key" in keys
    for key in keys:
        with pytest.raises(ConfigError, match=f"{key}: .*must not be empty") as info:
            load_settings({key: "  "})
        assert "got" not in str(info.value)  # the value of a secret is never echoed
        assert load_settings({key: "k3y"}).settings is not None


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("HSCTL_SERVE_API_KEY", "HSCTL_SERVE__API_KEY"),
        ("HSCTL_SERVER__API_KEY", "HSCTL_SERVE__API_KEY"),
        ("HSCTL_TRAIN_EPOCHS", "HSCTL_TRAIN__EPOCHS"),
        ("HSCTL_SERVE__APIKEY", "HSCTL_SERVE__API_KEY"),
        ("hsctl_serve_port", "HSCTL_SERVE__PORT"),
    ],
)
def test_a_misspelled_variable_is_named_with_the_right_one(monkeypatch: pytest.MonkeyPatch, name: str, meant: str):
    monkeypatch.setenv(name, "1")
    found = unknown_variables()
    assert [(v.name, v.source, v.suggestion) for v in found] == [(name, "env", meant)]
    assert name in found[0].message() and meant in found[0].message()


def test_unknown_variables_in_the_env_file_and_the_allowed_ones(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("HSCTL_DEBUG", "HSCTL_MODEL_CACHE", "HSCTL_SERVE__PORT", "HSCTL_SERVE", "HSCTL_DATA__NORMALIZE__URLS"):
        monkeypatch.setenv(name, "{}" if name == "HSCTL_SERVE" else "1")
    monkeypatch.setenv("HSCTL_EVALUATE__FAIL_UNDER__MACRO_F1", "0.5")  # a key of a dict-valued setting
    monkeypatch.setenv("OTHER_TOOL_VARIABLE", "1")
    (isolated / ".env").write_text("WANDB_API_KEY=x\nHSCTL_TRAIN__EPOCHS=2\nHSCTL_TRAIN__EPOCH=2\n")
    found = unknown_variables()
    assert [(v.name, v.source, v.suggestion) for v in found] == [("HSCTL_TRAIN__EPOCH", ".env", "HSCTL_TRAIN__EPOCHS")]
    other = isolated / "prod.env"
    other.write_text("HSCTL_SERVE_API_KEY=s3cret\n")
    assert [(v.name, v.source) for v in unknown_variables(other)] == [("HSCTL_SERVE_API_KEY", str(other))]
    assert "s3cret" not in unknown_variables(other)[0].message()


def test_log_text_aliases():
    assert load_settings({"serve.log_text": "hash"}).settings.serve.log_text == "sha256"
    assert load_settings({"serve.log_text": "full"}).settings.serve.log_text == "text"
    with pytest.raises(ConfigError, match="log_text"):
        load_settings({"serve.log_text": "md5"})
