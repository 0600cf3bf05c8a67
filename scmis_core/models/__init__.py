"""Model registry: the variants of docs/design.md §2 and the functions that build them.

``VARIANTS[name]`` says which generator class a variant uses, which decoders (and so which
outputs) it has and which discriminator it is trained with by default. The trainer and the
inference API call :func:`build_generator` / :func:`build_discriminator` with the
``model`` section of the config; nothing else switches on the variant name.

``python -m scmis_core.models --summary`` prints parameter counts and GMACs of every variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from .discriminator import build_discriminator
from .generator import ConditionalGenerator, SCMISGenerator
from .oasis_generator import OASISGenerator

if TYPE_CHECKING:
    from ..config import ModelConfig


@dataclass(frozen=True)
class VariantSpec:
    """One generator / discriminator variant.

    Attributes:
        generator: ``"scmis"`` (encoder + SPADE decoders conditioned on the encoder) or
            ``"oasis"`` (SPADE decoder conditioned on ``[onehot ; z]``).
        decoders: output keys of each decoder; a decoder with several keys has their summed
            channels and its output is split (4dgen, rgbd-oasis).
        disc_input: what the discriminator sees by default: ``"rgb"`` (3 ch) or ``"none"``
            (no adversarial training: the depth-only variant learns from the L1 depth loss).
        default_disc: the paper's discriminator head for this variant (``model.disc``).
        description: one line for ``--summary`` and docs.
    """

    generator: str
    decoders: tuple[tuple[str, ...], ...]
    disc_input: str
    default_disc: str
    description: str

    @property
    def outputs(self) -> tuple[str, ...]:
        """Keys the generator returns, in order."""
        return tuple(k for dec in self.decoders for k in dec)


VARIANTS: dict[str, VariantSpec] = {
    "scmis": VariantSpec("scmis", (("rgb",), ("depth",)), "rgb", "pp",
                         "encoder + RGB decoder + depth decoder (the method)"),
    "scmis-rgb": VariantSpec("scmis", (("rgb",),), "rgb", "pp",
                             "encoder + RGB decoder (uni-modal SCMIS)"),
    "scmis-depth": VariantSpec("scmis", (("depth",),), "none", "pp",
                               "encoder + depth decoder (depth from labels, L1 only)"),
    "4dgen": VariantSpec("scmis", (("rgb", "depth"),), "rgb", "pp",
                         "encoder + one 4-channel decoder split into RGB / depth"),
    "oasis": VariantSpec("oasis", (("rgb",),), "rgb", "oasis",
                         "OASIS generator (SPADE on labels + noise), RGB"),
    "rgbd-oasis": VariantSpec("oasis", (("rgb", "depth"),), "rgb", "pp",
                              "OASIS generator with a 4-channel RGB-D head"),
}

_GENERATORS: dict[str, type[ConditionalGenerator]] = {
    "scmis": SCMISGenerator,
    "oasis": OASISGenerator,
}


def variant_spec(name: str) -> VariantSpec:
    """The :class:`VariantSpec` of ``name``; ValueError naming the known variants otherwise."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"model.variant: expected one of {', '.join(VARIANTS)}, "
                         f"found {name!r}") from None


def build_generator(model_cfg: "ModelConfig", num_classes: int) -> nn.Module:
    """Build the generator of ``model_cfg.variant`` for ``num_classes`` (void excluded)."""
    spec = variant_spec(model_cfg.variant)
    kwargs = dict(width=model_cfg.width, num_scales=model_cfg.num_scales,
                  z_dim=model_cfg.z_dim, spade_hidden=model_cfg.spade_hidden,
                  spectral_norm=model_cfg.spectral_norm,
                  spatial_noise=model_cfg.spatial_noise)
    if spec.generator == "scmis":
        kwargs["share_embedding"] = model_cfg.share_spade_embedding
    return _GENERATORS[spec.generator](num_classes, spec.decoders, **kwargs)


__all__ = ["VARIANTS", "VariantSpec", "variant_spec", "build_generator",
           "build_discriminator", "SCMISGenerator", "OASISGenerator"]
