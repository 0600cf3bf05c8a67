"""Model registry: the variants of docs/design.md §2 and the functions that build them.

``VARIANTS[name]`` (defined in :mod:`scmis_core.variants`, plain data the config checks
against) says which generator class a variant uses, which decoders (and so which outputs) it
has and which discriminator it is trained with by default. The trainer and the
inference API call :func:`build_generator` / :func:`build_discriminator` with the
``model`` section of the config; nothing else switches on the variant name.

``python -m scmis_core.models --summary`` prints parameter counts and GMACs of every variant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from ..variants import VARIANTS, VariantSpec
from .discriminator import build_discriminator
from .generator import ConditionalGenerator, SCMISGenerator
from .oasis_generator import OASISGenerator

if TYPE_CHECKING:
    from ..config import ModelConfig


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
