"""Config loading, dotted overrides, validation messages and the presets in config/."""

from __future__ import annotations

import dataclasses
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
    (["segment.lr=0"], ["segment.lr: expected a value in (0, 10.0]", "found 0.0"]),
    (["segment.lr=11"], ["segment.lr: expected a value in (0, 10.0]", "found 11.0"]),
    (["segment.lr=fast"], ["segment.lr: expected float", "'fast'"]),
    (["segment.arch=resnet"], ["segment.arch: expected one of unet-rgbd", "esanet-r34",
                               "'resnet'"]),
    (["segment.mix_mode=cmyk"], ["segment.mix_mode", "rgbd", "'cmyk'"]),
    (["segment.scale_min=1.2", "segment.scale_max=1.1"],
     ["segment.scale_min: expected at most segment.scale_max = 1.1, found 1.2"]),
    (["segment.arch_kwargs=3"], ["segment.arch_kwargs: expected a mapping", "3"]),
    (["segment.warmup=3"], ["segment.warmup: unknown key", "mix_p"]),
    (["segment.tensorboard=2"], ["segment.tensorboard: expected a bool"]),
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


def test_segment_section_from_yaml_and_dotted_overrides(tmp_path):
    path = tmp_path / "seg.yaml"
    path.write_text("data:\n  height: 32\n  width: 32\nsegment:\n  arch: esanet-r18\n"
                    "  arch_kwargs: {base_width: 8}\n  steps: 50\n  lr: 1\n"
                    "  scale_max: 1.5\n")
    cfg = load_config(path, ["segment.steps=100", "segment.arch_kwargs.decoder_blocks=0"])
    seg = cfg.segment
    assert (seg.arch, seg.steps, seg.scale_max) == ("esanet-r18", 100, 1.5)
    assert seg.arch_kwargs == {"base_width": 8, "decoder_blocks": 0}
    assert isinstance(seg.lr, float) and seg.lr == 1.0
    assert seg.optimizer == "adamw"  # untouched keys keep the defaults
    save_config(cfg, tmp_path / "again.yaml")
    assert load_config(tmp_path / "again.yaml").segment == seg


def test_unknown_key_in_a_yaml_segment_section(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("segment:\n  stepz: 10\n")
    with pytest.raises(ConfigError, match=r"config file .*bad.yaml: segment.stepz: unknown "
                                          r"key; expected one of .*steps"):
        load_config(path)


def test_section_flags_are_shorthands_over_the_yaml(tmp_path):
    import argparse

    from scmis_core.config import SegmentConfig, add_section_flags, section_flag_values

    parser = argparse.ArgumentParser()
    add_section_flags(parser, "segment", {"arch_kwargs": ("--model",)})
    help_text = parser.format_help()
    for flag in ("--steps STEPS", "--mix-ratio MIX_RATIO", "--no-tensorboard",
                 "--model [KEY=VALUE ...]", "peak learning rate"):
        assert flag in help_text
    path = tmp_path / "seg.yaml"
    path.write_text("segment:\n  steps: 50\n  lr: 0.5\n  tensorboard: false\n")
    # no flag given: the YAML's values stay (a flag's default never overwrites them)
    args = parser.parse_args([])
    assert section_flag_values(args, "segment") == {}
    cfg = load_config(path, [], section_flag_values(args, "segment"))
    assert (cfg.segment.steps, cfg.segment.lr, cfg.segment.tensorboard) == (50, 0.5, False)
    # given flags win over the YAML and over dotted overrides
    args = parser.parse_args(["--steps", "7", "--tensorboard", "--model", "widths=[4, 8]",
                              "--mix-checkpoint", "2024"])
    values = section_flag_values(args, "segment")
    assert values == {"segment.steps": 7, "segment.tensorboard": True,
                      "segment.arch_kwargs": {"widths": [4, 8]},
                      "segment.mix_checkpoint": "2024"}
    cfg = load_config(path, ["segment.steps=9"], values)
    assert (cfg.segment.steps, cfg.segment.lr, cfg.segment.tensorboard) == (7, 0.5, True)
    assert cfg.segment.mix_checkpoint == "2024" and cfg.segment.arch_kwargs == {"widths": [4, 8]}
    # every field has a flag with the field's help
    for f in dataclasses.fields(SegmentConfig):
        assert "--" + f.name.replace("_", "-") in help_text
        assert " ".join(f.metadata["help"].split())[:30] in " ".join(help_text.split())
    with pytest.raises(ConfigError, match=r"config file .* with overrides: segment.lr"):
        load_config(path, [], section_flag_values(parser.parse_args(["--lr", "-1"]),
                                                  "segment"))
    with pytest.raises(ConfigError, match="--arch-kwargs 'data.height=32': expected an "
                                          "argument name"):
        section_flag_values(parser.parse_args(["--model", "data.height=32"]), "segment")


def test_cli_lists_the_segment_keys(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "segment.steps = 600  # optimiser steps" in out
    assert "segment.arch_kwargs = {}" in out and "segment.mix_mode = 'rgb'" in out
