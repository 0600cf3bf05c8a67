"""Config loading, dotted overrides, validation messages and the presets in config/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scmis_core.config import (Config, ConfigError, load_config, main, save_config)

REPO = Path(__file__).resolve().parents[1]


def test_defaults_validate():
    cfg = Config().validate()
    assert cfg.model.variant == "scmis"
    assert cfg.loss.lambda_mix == 10.0


def test_yaml_and_dotted_overrides(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("data:\n  height: 32\n  width: 64\nmodel:\n  width: 8\n  num_scales: 3\n")
    cfg = load_config(path, ["train.batch_size=3", "loss.lambda_ap=0.5", "model.disc=unet",
                             "train.compile=true", "train.lr_g=2e-4"])
    assert cfg.name == "tiny"
    assert (cfg.data.height, cfg.data.width) == (32, 64)
    assert cfg.train.batch_size == 3 and cfg.train.compile is True
    assert cfg.loss.lambda_ap == 0.5 and cfg.model.disc == "unet"
    assert cfg.train.lr_g == pytest.approx(2e-4)


def test_int_accepted_for_float():
    cfg = load_config(None, ["loss.lambda_depth=2"])
    assert isinstance(cfg.loss.lambda_depth, float) and cfg.loss.lambda_depth == 2.0


@pytest.mark.parametrize("override, words", [
    (["train.batch_size=0"], ["train.batch_size", "[1, 4096]", "0"]),
    (["train.batch_size=abc"], ["train.batch_size", "expected int", "'abc'"]),
    (["model.variant=stylegan"], ["model.variant", "scmis-rgb", "'stylegan'"]),
    (["model.nope=1"], ["model.nope", "unknown key"]),
    (["train.compile=3"], ["train.compile", "bool", "3"]),
    (["data.height=100"], ["data.height", "multiple of", "32", "100"]),
    (["data.source=nyuv2"], ["data.root", "nyuv2"]),
    (["train.device=gpu0"], ["train.device", "'gpu0'"]),
    (["nodot"], ["key=value"]),
])
def test_validation_errors_name_key_expected_and_found(override, words):
    with pytest.raises(ConfigError) as info:
        load_config(None, override)
    for word in words:
        assert word in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)


def test_save_round_trip(tmp_path):
    cfg = load_config(None, ["model.width=32", "train.steps=7"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again.to_dict() == {**cfg.to_dict(), "name": cfg.name}


def test_yaml_is_safe_loaded(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_presets_validate(path):
    data = yaml.safe_load(path.read_text())
    if "ros__parameters" in yaml.safe_dump(data):
        pytest.skip("ROS node parameter file, not a training config")
    load_config(path)


def test_cli_prints_keys_and_rejects_bad(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "train.batch_size = 4" in out and "model.variant" in out
    assert main(["train.steps=0"]) == 2
    assert "train.steps" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["scmis-rgb", "oasis"])
def test_rgbd_discriminator_needs_an_rgbd_variant(variant):
    # Regression (issue 13 bug 3): this pair passed validation and crashed at step 1 with a
    # raw TypeError in the trainer.
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"model.variant={variant}", "model.disc=rgbd-pp"])
    message = str(info.value)
    for word in ("model.disc", "'rgbd-pp'", variant, "pp", "unet"):
        assert word in message


@pytest.mark.parametrize("variant", ["scmis", "4dgen", "rgbd-oasis", "scmis-depth"])
def test_rgbd_discriminator_accepted_where_it_fits(variant):
    cfg = load_config(None, [f"model.variant={variant}", "model.disc=rgbd-pp"])
    assert cfg.model.disc == "rgbd-pp"


def test_every_variant_discriminator_pair_is_decided():
    from scmis_core.variants import DISC_INPUTS, VARIANTS

    for variant in VARIANTS:
        for disc in DISC_INPUTS:
            try:
                load_config(None, [f"model.variant={variant}", f"model.disc={disc}"])
            except ConfigError as exc:
                assert disc == "rgbd-pp" and "model.disc" in str(exc)


@pytest.mark.parametrize("variant, expected", [("scmis", "pp"), ("oasis", "oasis"),
                                               ("rgbd-oasis", "pp")])
def test_unset_discriminator_takes_the_variant_default(variant, expected, tmp_path):
    cfg = load_config(None, [f"model.variant={variant}"])
    assert cfg.model.disc == expected
    # the resolved head is what a run folder / checkpoint stores
    save_config(cfg, tmp_path / "c.yaml")
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["model"]["disc"] == expected


def test_variant_table_matches_the_model_registries():
    from scmis_core.models import VARIANTS as MODEL_VARIANTS
    from scmis_core.models.discriminator import DISCRIMINATORS
    from scmis_core.variants import DISC_INPUT_CHANNELS, DISC_INPUTS, VARIANTS

    assert MODEL_VARIANTS is VARIANTS
    assert set(DISCRIMINATORS) == set(DISC_INPUTS)
    for name, spec in DISCRIMINATORS.items():
        assert spec.in_channels == DISC_INPUT_CHANNELS[DISC_INPUTS[name]], name


def _float_keys(node=None, prefix=""):
    import dataclasses
    import typing

    node = Config() if node is None else node
    hints = typing.get_type_hints(type(node))
    for f in dataclasses.fields(node):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _float_keys(getattr(node, f.name), f"{prefix}{f.name}.")
        elif hints[f.name] is float:
            yield f"{prefix}{f.name}"


FLOAT_KEYS = sorted(_float_keys())


def test_float_keys_are_found():
    assert {"loss.lambda_ap", "train.lr_g", "data.max_depth_m"} <= set(FLOAT_KEYS)


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("text", ["nan", ".NaN", "inf", "-.inf"])
def test_non_finite_floats_rejected_everywhere(key, text):
    # Regression (issue 14 defect 4): loss.lambda_ap=nan passed validation, trained to the
    # end and silently skipped the perceptual loss.
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}={text}"])
    assert key in str(info.value) and "finite" in str(info.value)


def test_non_finite_float_in_a_yaml_file(tmp_path):
    path = tmp_path / "nan.yaml"
    path.write_text("loss:\n  lambda_ap: .nan\n")
    with pytest.raises(ConfigError, match=r"loss.lambda_ap: expected a finite number"):
        load_config(path)
    from scmis_core.config import from_dict
    with pytest.raises(ConfigError, match="train.lr_g"):
        from_dict({"train": {"lr_g": float("nan")}})
