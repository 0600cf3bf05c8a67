"""Segmenter training / evaluation: metrics by hand, losses, class weights, augmentation,
checkpoints, exact resume, online mixing and the CLI (tiny ESANet, 32x32 rooms frames)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scmis_core.config import from_dict
from scmis_core.data.base import LabelledDataset
from scmis_core.data.sample import Sample
from scmis_core.data.transforms import TorchDataset
from scmis_core.segment import (Segmenter, SegmentOptions, evaluate_segmenter, main,
                                median_frequency_weights, multiscale_loss, random_scale_crop,
                                segmentation_loss, train_segmenter)
from test_augment import tiny_generator


pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"base_width": 8, "decoder_blocks": 1}


class ListDataset(LabelledDataset):
    """Frames given as label maps (constant RGB / depth)."""

    def __init__(self, label_maps, num_classes):
        self.maps = [np.asarray(m, dtype=np.int64) for m in label_maps]
        self.class_names = tuple(f"c{i}" for i in range(1, num_classes + 1))

    def __len__(self):
        return len(self.maps)

    def load(self, index):
        labels = self.maps[index]
        h, w = labels.shape
        return Sample(np.zeros((h, w, 3), np.uint8), np.ones((h, w), np.float32), labels,
                      str(index))


class FixedPrediction(nn.Module):
    """Logits whose argmax is a given (H, W) id map, whatever the input."""

    def __init__(self, pred_ids, num_classes):
        super().__init__()
        pred = torch.as_tensor(pred_ids)
        self.register_buffer("logits", F.one_hot(pred - 1, num_classes).permute(2, 0, 1)
                             .float()[None])  # (1, N, H, W)

    def forward(self, rgb, depth):
        return self.logits.expand(rgb.shape[0], -1, -1, -1)


def test_miou_against_hand_computed_confusion():
    labels = [[1, 1, 2], [2, 3, 0]]
    pred = [[1, 2, 2], [2, 2, 1]]
    data = TorchDataset(ListDataset([labels], 3), 2, 3)
    seg = Segmenter(FixedPrediction(pred, 3), 3, ["a", "b", "c"], torch.device("cpu"), {})
    conf = evaluate_segmenter(seg, data)
    # scored pixels (gt != void): 1->1, 1->2, 2->2, 2->2, 3->2
    np.testing.assert_array_equal(conf.matrix, [[1, 1, 0], [0, 2, 0], [0, 1, 0]])
    # IoU_1 = 1/(2+1-1), IoU_2 = 2/(2+4-2), IoU_3 = 0/(1+0-0)
    np.testing.assert_allclose(conf.per_class_iou(), [0.5, 0.5, 0.0])
    assert conf.miou() == pytest.approx(1 / 3)
    assert conf.pixel_accuracy() == pytest.approx(3 / 5)


def test_median_frequency_weights_by_hand():
    maps = [np.ones((2, 2)), [[1, 1], [2, 2]]]
    weights = median_frequency_weights(TorchDataset(ListDataset(maps, 3), 2, 2), 3)
    # freq_1 = 6 / 8, freq_2 = 2 / 4, median 0.625; class 3 absent
    np.testing.assert_allclose(weights.numpy(), [0.625 / 0.75, 0.625 / 0.5, 0.0], rtol=1e-6)


def test_multiscale_loss_is_the_sum_over_scales():
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (2, 8, 8))
    logits = torch.randn(2, 3, 8, 8)
    sides = [torch.randn(2, 3, 2, 2), torch.randn(2, 3, 4, 4)]
    ones = torch.ones(3)
    total = multiscale_loss(logits, sides, labels, ones)
    by_hand = F.cross_entropy(logits, labels - 1, ignore_index=-1)
    for side, stride in zip(sides, (4, 2)):
        small = labels[:, ::stride, ::stride]  # nearest downsampling picks these pixels
        by_hand = by_hand + F.cross_entropy(side, small - 1, ignore_index=-1)
    assert total.item() == pytest.approx(by_hand.item(), rel=1e-5)
    # default weights = eq. 3 inverse frequencies of the batch: a rare class weighs more
    eq3 = segmentation_loss(logits, labels)
    assert eq3.item() != pytest.approx(segmentation_loss(logits, labels, ones).item())


def test_random_scale_crop_keeps_ids_and_pads_void():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(16).view(1, 4, 4) % 5
    rgb = torch.rand(1, 3, 4, 4)
    depth = torch.rand(1, 1, 4, 4)
    same = random_scale_crop(rgb, depth, labels, 1.0, 1.0, gen)
    assert same[2] is labels
    r, d, lab = random_scale_crop(rgb, depth, labels, 2.0, 2.0, gen)
    assert r.shape == rgb.shape and lab.shape == labels.shape
    assert set(lab.unique().tolist()) <= set(labels.unique().tolist())
    assert set(d.unique().tolist()) <= set(depth.unique().tolist())  # nearest: exact values
    r, d, lab = random_scale_crop(rgb, depth, labels, 0.5, 0.5, gen)
    assert (lab[0, 2:, :] == 0).all() and (d[0, 0, :, 2:] == -1).all()  # padding


def _data(**extra):
    return from_dict({"data": {"height": 32, "width": 32, "rooms_train_size": 8,
                               "rooms_test_size": 4, "num_workers": 0, **extra}}).data


def test_train_resume_is_exact_with_mixing_and_scaling(tmp_path):
    gen_ckpt = tiny_generator(tmp_path / "g.pt")
    kwargs = dict(arch="esanet-r18", arch_kwargs=TINY, steps=4, batch_size=2, lr=0.01,
                  seed=1, device="cpu", progress=False, optimizer="sgd",
                  class_weights="median", scale_min=1.0, scale_max=1.5, ckpt_every=2,
                  mix_checkpoint=str(gen_ckpt), mix_ratio=0.7, mix_mode="rgbd", mix_p=0.5,
                  tensorboard=False)
    full = train_segmenter(_data(), tmp_path / "a", **kwargs)
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / "step_0000002.pt", tmp_path / "b")
    resumed = train_segmenter(_data(), tmp_path / "b", resume=True, **kwargs)
    a = torch.load(full["checkpoint"], weights_only=True)["models"]["segmenter"]
    b = torch.load(resumed["checkpoint"], weights_only=True)["models"]["segmenter"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["miou"] == full["miou"] and 0.0 <= full["miou"] <= 1.0
    assert (tmp_path / "a" / "confusion.png").stat().st_size > 0
    # the step checkpoint itself was trained (differs from the final weights)
    mid = torch.load(tmp_path / "a" / "step_0000002.pt", weights_only=True)
    assert mid["step"] == 2 and not torch.equal(mid["models"]["segmenter"]["classifier.weight"],
                                                a["classifier.weight"])


def test_checkpoint_predict_and_cli(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--arch", "esanet-r18", "--model", "base_width=8",
                 "decoder_blocks=0", "--steps", "3", "--batch-size", "2", "--no-progress",
                 "--train-frames", "4", "data.height=32", "data.width=32",
                 "data.rooms_train_size=8", "data.rooms_test_size=4", "data.num_workers=0"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["train_frames"] == 4 and printed["steps"] == 3
    assert (out / "tb").is_dir() and (out / "metrics.jsonl").stat().st_size > 0
    seg = Segmenter.from_checkpoint(out / "segmenter.pt", "cpu")
    assert seg.info["arch_kwargs"] == {"base_width": 8, "decoder_blocks": 0}
    pred = seg.predict(torch.zeros(2, 3, 24, 40), torch.zeros(2, 1, 24, 40))
    assert pred.shape == (2, 24, 40) and pred.min() >= 1 and pred.max() <= seg.num_classes
    png = tmp_path / "conf.png"
    assert main(["eval", "--checkpoint", str(out / "segmenter.pt"), "--confusion", str(png),
                 "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["miou"] == pytest.approx(printed["miou"]) and png.stat().st_size > 0
    assert main(["train", "--out", str(tmp_path / "x"), "--mix-ratio", "1.5"]) == 2
    assert "mix_ratio: expected a value in [0, 1], found 1.5" in capsys.readouterr().err


def test_options_validation_and_unknown_option():
    with pytest.raises(ValueError, match="optimizer: expected adamw or sgd, found 'adam'"):
        SegmentOptions(optimizer="adam").validate()
    with pytest.raises(ValueError, match="unknown options"):
        train_segmenter(_data(), "/nonexistent", warmup=3)

