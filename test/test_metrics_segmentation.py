"""Confusion matrix, IoU and accuracies against a hand-computed 3-class example; PNG export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from scmis_core.data.labels import NYU40_CLASSES
from scmis_core.metrics.segmentation import ConfusionMatrix

# 3 classes on a 3x4 map; 0 in the target is void (ignored), 0 in pred is a void prediction
TARGET = np.array([[1, 1, 2, 0],
                   [2, 2, 3, 3],
                   [1, 3, 3, 0]])
PRED = np.array([[1, 2, 2, 3],
                 [2, 1, 3, 3],
                 [1, 3, 0, 2]])
# scored (gt, pred) pairs: (1,1) x2, (1,2), (2,2) x2, (2,1), (3,3) x3, (3,0)
EXPECTED = np.array([[2, 1, 0],
                     [1, 2, 0],
                     [0, 0, 3]])


def test_hand_computed_confusion_and_scores():
    cm = ConfusionMatrix(3).update(PRED, TARGET)
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    np.testing.assert_array_equal(cm.void_predictions, [0, 0, 1])
    # IoU = TP / (gt + pred - TP): 2 / (3 + 3 - 2), 2 / (3 + 3 - 2), 3 / (4 + 3 - 3)
    np.testing.assert_array_equal(cm.per_class_iou(), [0.5, 0.5, 0.75])
    assert cm.miou() == pytest.approx(1.75 / 3, rel=1e-15)
    assert cm.pixel_accuracy() == pytest.approx(7 / 10, rel=1e-15)
    assert cm.mean_accuracy() == pytest.approx((2 / 3 + 2 / 3 + 3 / 4) / 3, rel=1e-15)


def test_absent_classes_are_left_out_of_the_mean():
    cm = ConfusionMatrix(5).update(PRED, TARGET)  # classes 4 and 5 never appear
    iou = cm.per_class_iou()
    np.testing.assert_array_equal(iou[:3], [0.5, 0.5, 0.75])
    assert np.isnan(iou[3:]).all()
    assert cm.miou() == pytest.approx(1.75 / 3, rel=1e-15)
    # a class only predicted (never in gt) has IoU 0 and does count
    cm.update(np.array([[4]]), np.array([[1]]))
    assert cm.per_class_iou()[3] == 0.0
    assert cm.miou() == pytest.approx((2 / 5 + 0.5 + 0.75 + 0.0) / 4, rel=1e-15)


def test_batches_torch_and_merge_equal_one_update():
    one = ConfusionMatrix(3).update(np.stack([PRED, PRED[::-1]]),
                                    np.stack([TARGET, TARGET[::-1]]))
    parts = ConfusionMatrix(3).update(torch.from_numpy(PRED), torch.from_numpy(TARGET))
    parts.merge(ConfusionMatrix(3).update(PRED[::-1], TARGET[::-1]))
    np.testing.assert_array_equal(parts.counts, one.counts)
    np.testing.assert_array_equal(one.matrix, 2 * EXPECTED)
    one.reset()
    assert one.counts.sum() == 0 and np.isnan(one.miou())


def test_ignore_index_and_bad_ids():
    cm = ConfusionMatrix(3, ignore_index=255)
    target = np.where(TARGET == 0, 255, TARGET)
    np.testing.assert_array_equal(cm.update(PRED, target).matrix, EXPECTED)
    with pytest.raises(ValueError, match=r"target ids in 1\.\.3"):
        ConfusionMatrix(3, ignore_index=255).update(PRED, TARGET)  # 0 is not ignored now
    with pytest.raises(ValueError, match=r"pred ids in 0\.\.3"):
        ConfusionMatrix(3).update(np.full((3, 4), 4), TARGET)
    with pytest.raises(ValueError, match="same shape"):
        ConfusionMatrix(3).update(PRED[:2], TARGET)
    with pytest.raises(ValueError, match="integer class ids"):
        ConfusionMatrix(3).update(PRED.astype(np.float32), TARGET)


def test_confusion_png_for_40_classes(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(1, 41, size=(2, 64, 64))
    target[:, :, :3] = 0  # some void
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(1, 41, target.shape))
    target[target == 17] = 18  # class 17 absent from gt: a grey row
    cm = ConfusionMatrix(40).update(pred, target)
    path = cm.save_confusion_png(tmp_path / "sub" / "confusion.png", NYU40_CLASSES)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 40 * 16 and image.shape[1] > 40 * 16
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert (190, 190, 190) in colours  # the absent class
    with pytest.raises(ValueError, match="expected 40 class names"):
        cm.save_confusion_png(tmp_path / "x.png", NYU40_CLASSES[:39])
