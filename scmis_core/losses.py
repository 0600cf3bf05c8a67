"""The SCMIS losses, eqs. 2-9 of the paper (docs/design.md §1 "Losses").

Conventions (docs/model contract): label ids 0..N with 0 = void; discriminator logits
(B, N+1, H, W) with channel 0 = "fake" and channel k = class id k; images in [-1, 1]; depth
from the generator in the [-1, 1] network range of :mod:`scmis_core.depth_range`, real depth
in metres. Every loss computes in float32 (``.float()`` on its inputs), also under autocast.

Label maps may be given as ids (B, H, W) / (B, 1, H, W) integers, or as the void-excluded
one-hot (B, N, H, W) float that the generator takes; :func:`label_ids` converts.

- :func:`class_balance_weights`: eq. 3 per batch.
- :class:`DiscriminatorLoss`: eq. 2. :class:`GeneratorAdversarialLoss`: the G side of it.
- :class:`AdaptivePerceptualLoss`: eq. 4. :class:`DepthL1Loss`: eq. 6.
- :func:`labelmix_mask`, :func:`mix`, :class:`LabelMixLoss`: eqs. 7-8.
- :class:`VGGPerceptualLoss`: the standard perceptual loss of the ``vgg-in`` / ``vgg-cs``
  baselines (Table 5).
- :class:`GeneratorLoss` (eqs. 5, 9) and :class:`DiscriminatorTotalLoss` (eq. 9): totals
  with the lambdas of :class:`~scmis_core.config.LossConfig`, returning a dict of the terms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .depth_range import DEFAULT_MAX_DEPTH_M, metres_to_unit

# OASIS / SPADE weights of relu1_1 .. relu5_1 in the standard VGG perceptual loss.
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def label_ids(labels: torch.Tensor) -> torch.Tensor:
    """Label ids (B, H, W) int64 from ids (B, H, W) / (B, 1, H, W) or a one-hot (B, N, H, W).

    The one-hot excludes void: channel k-1 is class k, and all-zero pixels are void (0).
    """
    if labels.is_floating_point():
        if labels.dim() != 4:
            raise ValueError(f"labels: expected a one-hot (B, N, H, W), found shape "
                             f"{tuple(labels.shape)}")
        ids = labels.argmax(dim=1) + 1  # (B, H, W)
        return torch.where(labels.amax(dim=1) > 0, ids, torch.zeros_like(ids))
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 3:
        raise ValueError(f"labels: expected class ids (B, H, W), found shape "
                         f"{tuple(labels.shape)}")
    return labels.long()


def _check_ids(ids: torch.Tensor, num_classes: int) -> None:
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) > num_classes):
        raise ValueError(f"labels: expected class ids in 0..{num_classes}, found "
                         f"{int(ids.min())}..{int(ids.max())}")


def class_balance_weights(onehot_or_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Eq. 3 per batch: weight of each class id, shape (N+1,), float32.

    ``alpha_c = B*H*W / (K * n_c)`` with n_c the pixels of class c in the batch and K the
    number of (non-void) classes present in the batch, as the OASIS code computes it (so the
    weights average to 1 over the batch's pixels whatever K is). Void (id 0) and classes
    absent from the batch get weight 0.
    """
    ids = label_ids(onehot_or_labels)
    _check_ids(ids, num_classes)
    counts = torch.bincount(ids.reshape(-1), minlength=num_classes + 1).float()  # (N+1,)
    counts[0] = 0.0
    present = counts > 0
    num_present = present.sum().clamp(min=1).float()
    weights = torch.where(present, ids.numel() / (num_present * counts.clamp(min=1.0)),
                          torch.zeros_like(counts))
    return weights


def weighted_class_ce(logits: torch.Tensor, labels: torch.Tensor,
                      num_classes: int | None = None) -> torch.Tensor:
    """Class-balanced (N+1)-way cross-entropy with the true label ids as targets.

    ``mean over pixels of alpha_{t_ij} * CE(logits_ij, t_ij)`` (the mean runs over all
    B*H*W pixels; void pixels weigh 0). Used for real images (eq. 2, first term) and for the
    generator's adversarial loss.
    """
    logits = logits.float()
    n = logits.shape[1] - 1 if num_classes is None else num_classes
    ids = label_ids(labels)
    if logits.shape[1] != n + 1 or logits.shape[0] != ids.shape[0] or \
            logits.shape[-2:] != ids.shape[-2:]:
        raise ValueError(f"discriminator logits: expected (B, N+1={n + 1}, H, W) matching "
                         f"labels {tuple(ids.shape)}, found {tuple(logits.shape)}")
    alpha = class_balance_weights(ids, n).to(logits.device)  # (N+1,)
    ce = F.cross_entropy(logits, ids, reduction="none")  # (B, H, W)
    return (ce * alpha[ids]).mean()


class DiscriminatorLoss:
    """Eq. 2: ``L_D = weighted CE(D(x), t) + CE(D(G(z, t)), fake)``.

    Real: class-balanced (N+1)-way cross-entropy toward the label ids (eq. 3 weights, void
    weight 0). Fake: cross-entropy toward channel 0 ("fake"), unweighted, averaged over all
    pixels as eq. 2 writes it and as the OASIS code does (void pixels included: a generated
    image is fake everywhere); ``fake_ignores_void=True`` averages over non-void pixels
    only. Returns ``(loss, {"d_real": ..., "d_fake": ...})``.
    """

    def __init__(self, fake_ignores_void: bool = False):
        self.fake_ignores_void = fake_ignores_void

    def fake_term(self, logits_fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """CE toward the fake channel 0 (eq. 2, second term)."""
        logits_fake = logits_fake.float()
        target = torch.zeros(logits_fake.shape[0], *logits_fake.shape[-2:], dtype=torch.long,
                             device=logits_fake.device)
        ce = F.cross_entropy(logits_fake, target, reduction="none")  # (B, H, W)
        if not self.fake_ignores_void:
            return ce.mean()
        valid = (label_ids(labels) > 0).float()
        return (ce * valid).sum() / valid.sum().clamp(min=1.0)

    def __call__(self, logits_real: torch.Tensor, logits_fake: torch.Tensor,
                 labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real = weighted_class_ce(logits_real, labels)
        fake = self.fake_term(logits_fake, labels)
        return real + fake, {"d_real": real.detach(), "d_fake": fake.detach()}


class GeneratorAdversarialLoss:
    """Generator side of eq. 2: the class-balanced (N+1)-way CE of D(G(z, t)) toward the
    true label ids (so G makes D see the right class, not "fake")."""

    def __call__(self, logits_fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return weighted_class_ce(logits_fake, labels)


class AdaptivePerceptualLoss:
    """Eq. 4: ``L_AP = (1/L) sum_l mean|F_l(x) - F_l(x_hat)|`` over the discriminator's own
    backbone features; the real features are detached (gradients reach G only)."""

    def __call__(self, feats_real: Sequence[torch.Tensor],
                 feats_fake: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(feats_real) != len(feats_fake) or not feats_real:
            raise ValueError(f"adaptive perceptual loss: expected two equal, non-empty feature "
                             f"lists, found {len(feats_real)} and {len(feats_fake)}")
        terms = [F.l1_loss(fake.float(), real.detach().float())
                 for real, fake in zip(feats_real, feats_fake)]
        return torch.stack(terms).mean()


class DepthL1Loss:
    """Eq. 6: ``L_depth = (1/P) sum_p |d_hat_p - d_p|`` over the P valid real pixels.

    ``pred`` is the generator's depth in the [-1, 1] network range (B, 1, H, W); ``real_m``
    the real depth in metres, mapped with :func:`~scmis_core.depth_range.metres_to_unit`
    (``max_depth_m``) so the L1 is taken in the network range. Valid pixels: finite and > 0
    (or the given ``valid`` mask). With no valid pixel the loss is 0, still attached to
    ``pred``'s graph.
    """

    def __init__(self, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
        self.max_depth_m = max_depth_m

    def __call__(self, pred: torch.Tensor, real_m: torch.Tensor,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
        pred = pred.float()
        real_m = real_m.float()
        if real_m.dim() == 3:
            real_m = real_m.unsqueeze(1)
        if pred.shape != real_m.shape:
            raise ValueError(f"depth loss: expected predicted and real depth of one shape, "
                             f"found {tuple(pred.shape)} and {tuple(real_m.shape)}")
        if valid is None:
            valid = torch.isfinite(real_m) & (real_m > 0)
        valid = valid.reshape(real_m.shape).to(torch.bool)
        real_unit = metres_to_unit(torch.where(valid, real_m, torch.zeros_like(real_m)),
                                   self.max_depth_m)
        diff = (pred - real_unit).abs()
        # where() rather than multiplication: 0 * nan would poison the sum.
        total = torch.where(valid, diff, torch.zeros_like(diff)).sum()
        return total / valid.sum().clamp(min=1)


def labelmix_mask(labels: torch.Tensor, num_classes: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """LabelMix mask M (B, 1, H, W) float of 0/1: one random bit per class id per image.

    All pixels of a class (void included, which gets its own bit) take the same source.
    ``generator`` (a CPU ``torch.Generator``) makes the draw reproducible.
    """
    ids = label_ids(labels)
    n = int(ids.max()) if num_classes is None else num_classes
    _check_ids(ids, n)
    bits = torch.randint(0, 2, (ids.shape[0], n + 1), generator=generator)  # (B, N+1)
    bits = bits.to(ids.device, torch.float32)
    mask = torch.gather(bits, 1, ids.reshape(ids.shape[0], -1))  # (B, H*W)
    return mask.reshape(ids.shape[0], 1, *ids.shape[-2:])


def mix(x: torch.Tensor, x_hat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``M * x + (1 - M) * x_hat``."""
    return mask * x + (1.0 - mask) * x_hat


class LabelMixLoss:
    """Eq. 7: ``|| D(mix(x, x_hat, M)) - mix(D(x), D(x_hat), M) ||^2`` (mean squared error
    over all logits), with D the logits before the softmax."""

    def __call__(self, logits_mixed: torch.Tensor, logits_real: torch.Tensor,
                 logits_fake: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        target = mix(logits_real.float(), logits_fake.float(), mask.float())
        return F.mse_loss(logits_mixed.float(), target)


class VGGPerceptualLoss(nn.Module):
    """Standard perceptual loss (``vgg-in`` / ``vgg-cs``): ``sum_l w_l mean|V_l(x) -
    V_l(x_hat)|`` with a frozen VGG-19 :class:`~scmis_core.models.vgg.VGGFeatures` and the
    OASIS weights 1/32, 1/16, 1/8, 1/4, 1 on relu1_1 .. relu5_1; the real branch is
    detached. Images in [-1, 1] (mapped to ImageNet normalisation inside the VGG)."""

    def __init__(self, vgg, layer_weights: Sequence[float] = VGG_LAYER_WEIGHTS):
        super().__init__()
        self.vgg = vgg
        self.layer_weights = tuple(layer_weights)[:vgg.backbone.depth]

    @classmethod
    def from_file(cls, path: str | Path, prefix: str = "") -> "VGGPerceptualLoss":
        """Build from a local torchvision-format VGG-19 weights file."""
        from .models.vgg import VGGFeatures
        return cls(VGGFeatures.from_file(path, prefix=prefix))

    def forward(self, rgb_real: torch.Tensor, rgb_fake: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            feats_real = self.vgg(rgb_real.float())
        feats_fake = self.vgg(rgb_fake.float())
        total = rgb_fake.new_zeros((), dtype=torch.float32)
        for w, real, fake in zip(self.layer_weights, feats_real, feats_fake):
            total = total + w * F.l1_loss(fake.float(), real.detach().float())
        return total


#: A discriminator module: ``D(image)`` -> logits, ``D(image, return_features=True)`` ->
#: (logits, features), ``D.features(image)`` -> the same features without the logits.
Discriminator = Callable[..., object]
#: D's outputs for the G loss: logits of the generated input, and for eq. 4 D's features of
#: the generated and of the real input (None without eq. 4).
DOutputs = tuple[torch.Tensor, Sequence[torch.Tensor] | None, Sequence[torch.Tensor] | None]


class GeneratorLoss:
    """Eqs. 5 and 9 for G: ``L_G = L_adv + lambda_AP * L_perc + lambda_depth * L_depth``.

    ``L_perc`` is chosen by ``loss.perceptual``: ``none``; ``adaptive`` (eq. 4, on D's own
    features of real and generated input); ``vgg-in`` / ``vgg-cs`` (frozen VGG-19 from
    ``loss.perceptual_weights``, on the RGB channels). Terms whose inputs are not given are
    skipped (e.g. no adversarial term without a D, no depth term without depth).
    ``real_features_only``: eq. 4's features of the real input come from D's backbone alone
    (false: a full D pass whose logits are thrown away; same numbers).
    """

    def __init__(self, loss_cfg, max_depth_m: float = DEFAULT_MAX_DEPTH_M,
                 vgg_loss: VGGPerceptualLoss | None = None, real_features_only: bool = True):
        self.cfg = loss_cfg
        self.real_features_only = real_features_only
        self.adversarial = GeneratorAdversarialLoss()
        self.adaptive = AdaptivePerceptualLoss()
        self.depth = DepthL1Loss(max_depth_m)
        self.vgg_loss = vgg_loss
        if loss_cfg.perceptual in ("vgg-in", "vgg-cs") and vgg_loss is None:
            if not loss_cfg.perceptual_weights:
                raise ValueError(f"loss.perceptual={loss_cfg.perceptual}: expected "
                                 "loss.perceptual_weights to name a local VGG-19 weights file, "
                                 "found an empty string")
            self.vgg_loss = VGGPerceptualLoss.from_file(loss_cfg.perceptual_weights)

    def to(self, device: torch.device | str) -> "GeneratorLoss":
        """Move the frozen VGG (if any) to ``device``."""
        if self.vgg_loss is not None:
            self.vgg_loss.to(device)
        return self

    def __call__(self, labels: torch.Tensor, *, discriminator: Discriminator | None = None,
                 fake: torch.Tensor | None = None, real: torch.Tensor | None = None,
                 depth_fake: torch.Tensor | None = None,
                 depth_real_m: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total G loss and its terms.

        fake / real: what D sees (B, C, H, W) in [-1, 1] (RGB, or cat(rgb, depth) for an
        RGB-D D); D's features of ``real`` are computed without gradients. depth_fake:
        generator depth in [-1, 1]; depth_real_m: real depth in metres.
        """
        d_outputs = None
        if discriminator is not None and fake is not None:
            d_outputs = self.d_outputs(discriminator, fake, real)
        return self.from_outputs(labels, d_outputs, fake=fake, real=real, depth_fake=depth_fake,
                                 depth_real_m=depth_real_m)

    def uses_features(self, real: torch.Tensor | None) -> bool:
        """Whether eq. 4 runs (it needs D's features of the real and the generated input)."""
        return self.cfg.perceptual == "adaptive" and self.cfg.lambda_ap > 0 and real is not None

    def d_outputs(self, discriminator: Discriminator, fake: torch.Tensor,
                  real: torch.Tensor | None) -> DOutputs:
        """What the G loss needs from D: the logits of ``fake`` and, for eq. 4, D's features
        of ``fake`` and of ``real`` (the latter without gradients)."""
        if not self.uses_features(real):
            return discriminator(fake), None, None
        logits, feats_fake = discriminator(fake, return_features=True)
        with torch.no_grad():
            if not self.real_features_only:  # a full pass whose logits are not used
                return logits, feats_fake, discriminator(real, return_features=True)[1]
            if isinstance(discriminator, nn.parallel.DistributedDataParallel):
                discriminator = discriminator.module  # no gradient, so no DDP hook is needed
            feats_real = discriminator.features(real)  # the backbone alone
        return logits, feats_fake, feats_real

    def from_outputs(self, labels: torch.Tensor, d_outputs: DOutputs | None = None, *,
                     fake: torch.Tensor | None = None, real: torch.Tensor | None = None,
                     depth_fake: torch.Tensor | None = None,
                     depth_real_m: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The G loss from D's outputs (:meth:`d_outputs`, or None without a D) and the
        images; the arguments are those of ``__call__``."""
        cfg = self.cfg
        terms: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None

        def add(name: str, value: torch.Tensor, weight: float) -> None:
            nonlocal total
            terms[name] = value.detach()
            total = weight * value if total is None else total + weight * value

        if d_outputs is not None:
            logits, feats_fake, feats_real = d_outputs
            if feats_fake is not None and feats_real is not None:
                add("g_ap", self.adaptive(feats_real, feats_fake), cfg.lambda_ap)
            add("g_adv", self.adversarial(logits, labels), 1.0)
        if (cfg.perceptual in ("vgg-in", "vgg-cs") and cfg.lambda_ap > 0 and fake is not None
                and real is not None and self.vgg_loss is not None):
            add("g_vgg", self.vgg_loss(real[:, :3], fake[:, :3]), cfg.lambda_ap)
        if depth_fake is not None and depth_real_m is not None and cfg.lambda_depth > 0:
            add("g_depth", self.depth(depth_fake, depth_real_m), cfg.lambda_depth)
        if total is None:
            raise ValueError("generator loss: no term could be computed; expected a "
                             "discriminator with a fake image, or depth_fake with depth_real_m")
        terms["g_total"] = total.detach()
        return total, terms


class DiscriminatorTotalLoss:
    """Eq. 9 for D: ``L_D = eq. 2 + lambda_mix * L_mix`` (LabelMix when ``loss.labelmix``).

    ``__call__(discriminator, real, fake, labels)`` runs D on the real and the (detached)
    generated input and, with LabelMix, on their per-class mix; returns the total and a dict
    of the terms (``d_real``, ``d_fake``, ``d_mix``, ``d_total``).
    """

    def __init__(self, loss_cfg, fake_ignores_void: bool = False):
        self.cfg = loss_cfg
        self.gan = DiscriminatorLoss(fake_ignores_void)
        self.labelmix = LabelMixLoss()

    def __call__(self, discriminator: Discriminator, real: torch.Tensor, fake: torch.Tensor,
                 labels: torch.Tensor, generator: torch.Generator | None = None, *,
                 step: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``step``: 0-based index of this D update; with ``loss.labelmix_every`` k > 1 the
        LabelMix term is computed on updates k-1, 2k-1, ... only, weighted k * lambda_mix
        (``d_mix`` is then absent from the other updates' terms)."""
        fake = fake.detach()
        logits_real = discriminator(real)  # (B, N+1, H, W)
        logits_fake = discriminator(fake)
        mask = self.mix_mask(labels, logits_real.shape[1] - 1, generator, step)
        if mask is not None:
            mask = mask.to(real.dtype)
        logits_mixed = None if mask is None else discriminator(mix(real, fake, mask))
        return self.from_logits(logits_real, logits_fake, labels, mask, logits_mixed)

    def mix_mask(self, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator | None = None, step: int = 0
                 ) -> torch.Tensor | None:
        """The LabelMix mask of D update ``step`` (float, (B, 1, H, W)), or None when this
        update has no LabelMix term."""
        cfg = self.cfg
        if not (cfg.labelmix and cfg.lambda_mix > 0 and (step + 1) % cfg.labelmix_every == 0):
            return None
        return labelmix_mask(labels, num_classes, generator)

    def from_logits(self, logits_real: torch.Tensor, logits_fake: torch.Tensor,
                    labels: torch.Tensor, mask: torch.Tensor | None = None,
                    logits_mixed: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 9 for D from D's logits of the real, the generated and (with ``mask``) the
        mixed input."""
        total, terms = self.gan(logits_real, logits_fake, labels)
        if mask is not None and logits_mixed is not None:
            mix_loss = self.labelmix(logits_mixed, logits_real, logits_fake, mask)
            terms["d_mix"] = mix_loss.detach()
            total = total + self.cfg.labelmix_every * self.cfg.lambda_mix * mix_loss
        terms["d_total"] = total.detach()
        return total, terms
