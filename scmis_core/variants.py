"""What each generator variant produces, what each discriminator head judges, and which
segmenter architectures exist.

Plain data (no torch), so that :meth:`scmis_core.config.Config.validate` can check a
``model.variant`` / ``model.disc`` pair and a ``segment.arch`` without building a network, and
the model registries (:mod:`scmis_core.models`, :data:`scmis_core.segment.SEGMENTERS`) build
from the same tables.

``VARIANTS[name]`` says which generator class a variant uses, which decoders (and so which
outputs) it has and which discriminator head it is trained with when ``model.disc`` is left
empty. ``DISC_INPUTS[head]`` says what a discriminator head judges: ``"rgb"`` (3 channels) or
``"rgbd"`` (RGB + depth, 4 channels); an RGB-D head needs a variant that generates both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
        default_disc: the paper's discriminator head for this variant (used when
            ``model.disc`` is empty).
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

#: What each discriminator head (``model.disc``) judges: "rgb" (3 ch) or "rgbd" (4 ch).
DISC_INPUTS: dict[str, str] = {
    "upsample": "rgb",
    "unet": "rgb",
    "pp": "rgb",
    "rgbd-pp": "rgbd",
    "oasis": "rgb",
}

#: Channels of each ``DISC_INPUTS`` kind.
DISC_INPUT_CHANNELS = {"rgb": 3, "rgbd": 4}


def resolve_disc(variant: str, disc: str) -> str:
    """The discriminator head to build: ``disc``, or the variant's default when empty."""
    if disc:
        return disc
    if variant not in VARIANTS:
        raise ValueError(f"model.variant: expected one of {', '.join(VARIANTS)}, "
                         f"found {variant!r}")
    return VARIANTS[variant].default_disc


def pair_error(variant: str, disc: str) -> str | None:
    """Why ``variant`` cannot be trained with discriminator head ``disc`` (None if it can).

    Variants without adversarial training (``disc_input == "none"``) accept any head (it is
    never built). An RGB-D head needs a variant that generates both RGB and depth.
    """
    spec = VARIANTS[variant]
    if spec.disc_input == "none" or DISC_INPUTS[disc] != "rgbd":
        return None
    if {"rgb", "depth"} <= set(spec.outputs):
        return None
    fitting = [name for name, kind in DISC_INPUTS.items() if kind != "rgbd"]
    return (f"model.disc: {disc!r} judges RGB-D images, but model.variant {variant!r} "
            f"generates only {' and '.join(spec.outputs)}; expected one of "
            f"{', '.join(fitting)} for this variant (or leave model.disc empty for its "
            f"default, {spec.default_disc})")


#: Segmenter architectures (``segment.arch``): name -> (network family, fixed arguments).
#: :data:`scmis_core.segment.SEGMENTERS` builds them: family ``"unet"`` is
#: :class:`~scmis_core.models.segnet.SmallRGBDUNet`, ``"esanet"`` is
#: :func:`~scmis_core.models.esanet.build_esanet` (with multi-scale side outputs); the
#: ``segment.arch_kwargs`` of a run are added to the fixed arguments (and may replace them).
SEGMENTER_ARCHS: dict[str, tuple[str, dict[str, Any]]] = {
    "unet-rgbd": ("unet", {}),
    "unet-rgb": ("unet", {"use_depth": False}),
    "esanet": ("esanet", {}),
    "esanet-r18": ("esanet", {"encoder": "resnet18"}),
    "esanet-r34": ("esanet", {"encoder": "resnet34"}),
}
