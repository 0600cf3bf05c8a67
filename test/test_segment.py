"""Segmenter training / evaluation: metrics by hand, losses, class weights, augmentation,
checkpoints, exact resume, online mixing and the CLI (tiny ESANet, 32x32 rooms frames)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scmis_core.config import ConfigError, SegmentConfig, from_dict
from scmis_core.data.base import LabelledDataset
from scmis_core.data.sample import Sample
from scmis_core.data.transforms import TorchDataset
from scmis_core.segment import (SEGMENTERS, Segmenter, SegmenterTrainer, evaluate_segmenter,
                                main, median_frequency_weights, multiscale_loss,
                                random_scale_crop, segmentation_loss, train_segmenter)
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
    assert "segment.mix_ratio: expected a value in [0.0, 1.0], found 1.5" in \
        capsys.readouterr().err


def test_options_validation_and_unknown_option(tmp_path):
    with pytest.raises(ConfigError, match="segment.optimizer: expected one of adamw, sgd, "
                                          "found 'adam'"):
        train_segmenter(_data(), tmp_path, optimizer="adam")
    with pytest.raises(ConfigError, match="segment.warmup: unknown key"):
        train_segmenter(_data(), tmp_path, warmup=3)
    with pytest.raises(ConfigError, match=r"segment.lr: expected a value in \(0, 10.0\]"):
        train_segmenter(_data(), tmp_path, lr=0)
    # a SegmentConfig built by hand is validated by the trainer before any work
    with pytest.raises(ConfigError, match="segment.scale_min: expected at most "
                                          "segment.scale_max = 1.0, found 1.5"):
        SegmenterTrainer(_data(), tmp_path, SegmentConfig(scale_min=1.5))
    assert not list(tmp_path.iterdir())


def test_architecture_table_is_the_registry():
    from scmis_core.config import Config
    from scmis_core.variants import SEGMENTER_ARCHS

    assert list(SEGMENTERS) == list(SEGMENTER_ARCHS)
    field = next(f for f in dataclasses.fields(SegmentConfig) if f.name == "arch")
    assert field.metadata["choices"] == tuple(SEGMENTERS)
    assert Config().validate().segment.arch in SEGMENTERS
    rgb_only = SEGMENTERS["unet-rgb"](3, widths=(4, 8)).eval()
    assert rgb_only(torch.zeros(1, 3, 16, 16), None).shape == (1, 3, 16, 16)
    r18 = SEGMENTERS["esanet-r18"](3, base_width=8, decoder_blocks=0).eval()
    assert r18(torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)



def test_cli_reads_the_segment_section_then_overrides_then_flags(tmp_path, capsys):
    config = tmp_path / "seg.yaml"
    config.write_text("data:\n  height: 32\n  width: 32\n  rooms_train_size: 8\n"
                      "  rooms_test_size: 2\n  num_workers: 0\n"
                      "segment:\n  arch: unet-rgbd\n  arch_kwargs: {widths: [4, 8]}\n"
                      "  steps: 50\n  batch_size: 4\n  lr: 0.01\n  tensorboard: false\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress",
                 "--device", "cpu", "segment.steps=2", "--batch-size", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    options = json.loads((out / "options.json").read_text())
    assert (options["steps"], options["batch_size"], options["lr"]) == (2, 2, 0.01)
    assert options["arch_kwargs"] == {"widths": [4, 8]} and options["tensorboard"] is False
    assert not (out / "tb").exists()  # the YAML's tensorboard: false was not overwritten
    ckpt = torch.load(out / "segmenter.pt", weights_only=True)
    assert ckpt["config"]["options"] == options and ckpt["config"]["steps"] == 2
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "bad"),
                 "segment.lr=0"]) == 2
    assert "segment.lr: expected a value in (0, 10.0], found 0" in capsys.readouterr().err


def test_old_checkpoint_without_new_option_keys_loads(tmp_path):
    from scmis_core.engine.checkpoints import SegmenterCheckpoint
    from scmis_core.models.segnet import SmallRGBDUNet

    torch.manual_seed(0)
    model = SmallRGBDUNet(3, widths=(4, 8))
    old_options = {"arch": "unet-rgbd", "arch_kwargs": {"widths": [4, 8]}, "steps": 5}
    path = SegmenterCheckpoint(
        config={"arch": "unet-rgbd", "arch_kwargs": {"widths": [4, 8]},
                "data": {"height": 16, "width": 16}, "options": old_options},
        num_classes=3, class_names=["a", "b", "c"], step=5,
        models={"segmenter": model.state_dict()}).save(tmp_path / "old.pt")
    seg = Segmenter.from_checkpoint(path, "cpu")
    assert seg.frame_size() == (16, 16) and seg.class_names == ["a", "b", "c"]
    assert seg.predict(torch.zeros(1, 3, 16, 16), torch.zeros(1, 1, 16, 16)).shape == (1, 16, 16)


def test_curve_logs_train_and_test_miou_and_survives_resume(tmp_path):
    kwargs = dict(arch="esanet-r18", arch_kwargs=TINY, steps=6, batch_size=2, lr=0.01,
                  seed=3, device="cpu", progress=False, eval_every=2, ckpt_every=2,
                  train_eval_frames=4, keep_last=3, tensorboard=False)
    full = train_segmenter(_data(), tmp_path / "a", **kwargs)
    steps = [p["step"] for p in full["curve"]]
    assert steps == [2, 4, 6]
    assert all(0.0 <= p["train_miou"] <= 1.0 and 0.0 <= p["test_miou"] <= 1.0
               for p in full["curve"])
    assert full["curve"][-1]["test_miou"] == pytest.approx(full["miou"])
    assert full["train_miou"] == full["curve"][-1]["train_miou"]
    # the per-image counts rebuild the test mIoU
    from scmis_core.metrics.segmentation import miou_from_counts

    counts = np.load(full["per_image"])
    assert counts["inter"].shape[0] == full["test_frames"] == 4
    assert miou_from_counts(counts["inter"], counts["union"]) == pytest.approx(full["miou"])
    # resumed from step 2: the curve keeps the step-2 point and redoes the later ones
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / "step_0000002.pt", tmp_path / "b")
    shutil.copy(tmp_path / "a" / "curve.json", tmp_path / "b")
    resumed = train_segmenter(_data(), tmp_path / "b", resume=True, **kwargs)
    assert resumed["curve"] == full["curve"]
    assert json.loads((tmp_path / "b" / "curve.json").read_text()) == full["curve"]


def test_per_image_counts_by_hand():
    from scmis_core.metrics.segmentation import (ConfusionMatrix, miou_from_counts,
                                                 per_image_iou_counts)

    gt = np.array([[[1, 1], [2, 0]], [[2, 2], [3, 3]]])
    pred = np.array([[[1, 2], [2, 3]], [[0, 2], [3, 1]]])
    inter, union = per_image_iou_counts(pred, gt, 3)
    np.testing.assert_array_equal(inter, [[1, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(union, [[2, 2, 0], [1, 2, 2]])
    conf = ConfusionMatrix(3).update(pred, gt)
    assert miou_from_counts(inter, union) == pytest.approx(conf.miou())
