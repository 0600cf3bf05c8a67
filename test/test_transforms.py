"""Numpy transforms, one-hot / class weights and the TorchDataset view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scmis_core.data.base import LabelledDataset
from scmis_core.data.sample import Sample
from scmis_core.data.transforms import (TorchDataset, center_crop, class_frequencies, crop,
                                        hflip, inverse_frequency_weights, one_hot,
                                        random_crop, random_hflip, resize, resize_nearest,
                                        resize_short_side, resize_short_side_random_crop,
                                        resize_to_cover)
from scmis_core.depth_range import metres_to_unit


def _sample(h=24, w=32, num_classes=5, seed=0, name="s"):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.choice(np.array([1.5, 4.0, 7.25], np.float32), (h, w))
    depth[rng.random((h, w)) < 0.3] = 0.0  # holes
    labels = rng.integers(0, num_classes + 1, (h, w)).astype(np.int64)
    return Sample(rgb=rgb, depth_m=depth.astype(np.float32), labels=labels, name=name)


class _Memory(LabelledDataset):
    class_names = ("a", "b", "c", "d", "e")

    def __init__(self, n=4, h=24, w=32):
        self.samples = [_sample(h, w, seed=i, name=str(i)) for i in range(n)]

    def __len__(self):
        return len(self.samples)

    def load(self, index):
        return self.samples[index]


@pytest.mark.parametrize("size", [(7, 9), (24, 32), (50, 61), (13, 64)])
def test_resize_keeps_label_ids_and_depth_values(size):
    s = _sample()
    r = resize(s, *size)
    assert r.rgb.shape == (*size, 3) and r.depth_m.shape == size and r.labels.shape == size
    assert r.labels.dtype == np.int64 and r.depth_m.dtype == np.float32
    assert set(np.unique(r.labels)) <= set(np.unique(s.labels))  # no new ids
    # depth values only come from the source pixels: no blend of a hole with a measurement
    assert set(np.unique(r.depth_m)) <= {0.0, 1.5, 4.0, 7.25}
    r.validate(5)


def test_resize_nearest_matches_pixel_centres():
    labels = np.arange(6)[None, :].repeat(2, axis=0)  # columns 0..5
    # target centre 0.5 -> source 1.0: floor picks the pixel right of the boundary
    np.testing.assert_array_equal(resize_nearest(labels, 2, 3)[0], [1, 3, 5])
    np.testing.assert_array_equal(resize_nearest(labels, 2, 12)[0],
                                  [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    # a 2x downscale followed by the matching upscale keeps every other column
    block = np.kron(np.array([[1, 2], [3, 4]]), np.ones((4, 4), int))
    np.testing.assert_array_equal(resize_nearest(resize_nearest(block, 2, 2), 8, 8), block)


def test_resize_keeps_rgb_and_labels_registered():
    labels = np.zeros((40, 60), np.int64)
    labels[:, 30:] = 2
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 30:] = 200
    s = Sample(rgb=rgb, depth_m=np.ones((40, 60), np.float32), labels=labels)
    r = resize(s, 17, 23)
    # Away from the edge column, class 2 pixels are bright and class 0 pixels dark.
    inner = np.abs(np.arange(23) + 0.5 - 11.5) > 1
    assert (r.rgb[:, inner][r.labels[:, inner] == 2] == 200).all()
    assert (r.rgb[:, inner][r.labels[:, inner] == 0] == 0).all()


def test_short_side_cover_and_crops():
    s = _sample(24, 32)
    assert resize_short_side(s, 12).labels.shape == (12, 16)
    assert resize_to_cover(s, 20, 20).labels.shape == (20, 27)
    assert resize_to_cover(s, 12, 32).labels.shape == (24, 32)
    c = center_crop(s, 10, 20)
    np.testing.assert_array_equal(c.labels, s.labels[7:17, 6:26])
    np.testing.assert_array_equal(c.depth_m, s.depth_m[7:17, 6:26])
    with pytest.raises(ValueError, match="inside the 24x32 frame"):
        crop(s, 20, 0, 10, 10)
    a = random_crop(s, 10, 10, np.random.default_rng(5))
    b = random_crop(s, 10, 10, np.random.default_rng(5))
    np.testing.assert_array_equal(a.rgb, b.rgb)
    windows = {random_crop(s, 10, 10, np.random.default_rng(k)).labels.tobytes()
               for k in range(6)}
    assert len(windows) > 1
    out = resize_short_side_random_crop(s, 16, 16, np.random.default_rng(1))
    assert out.rgb.shape == (16, 16, 3)
    assert set(np.unique(out.depth_m)) <= {0.0, 1.5, 4.0, 7.25}


def test_flips():
    s = _sample()
    f = hflip(s)
    np.testing.assert_array_equal(f.rgb[:, 0], s.rgb[:, -1])
    np.testing.assert_array_equal(f.labels[:, 3], s.labels[:, -4])
    np.testing.assert_array_equal(hflip(f).depth_m, s.depth_m)
    flips = [random_hflip(s, np.random.default_rng(k)) is not s for k in range(20)]
    assert 0 < sum(flips) < 20
    again = [random_hflip(s, np.random.default_rng(k)) is not s for k in range(20)]
    assert flips == again


def test_one_hot_excludes_void():
    labels = torch.tensor([[[0, 1, 3], [2, 0, 3]]])  # (1, 2, 3), N = 3
    oh = one_hot(labels, 3)
    assert oh.shape == (1, 3, 2, 3) and oh.dtype == torch.float32
    assert oh[0, :, 0, 0].sum() == 0 and oh[0, :, 1, 1].sum() == 0  # void: all zeros
    assert oh[0, 0, 0, 1] == 1 and oh[0, 2, 0, 2] == 1 and oh[0, 1, 1, 0] == 1
    torch.testing.assert_close(oh.sum(1), (labels > 0).float())
    with pytest.raises(ValueError, match=r"0\.\.3, found 4\.\.4"):
        one_hot(torch.tensor([[[4]]]), 3)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        one_hot(torch.zeros(2, 2, dtype=torch.long), 3)


def test_inverse_frequency_weights_by_hand():
    labels = torch.tensor([[[0, 1, 1], [2, 1, 0]]])  # B*H*W = 6, N = 3
    np.testing.assert_array_equal(class_frequencies(labels, 3).numpy(), [2, 3, 1, 0])
    w = inverse_frequency_weights(labels, 3)
    # w_c = 6 / (3 * n_c): class 1 -> 6/9, class 2 -> 6/3; void and absent class 3 -> 0
    torch.testing.assert_close(w, torch.tensor([0.0, 2.0 / 3.0, 2.0, 0.0]))
    # batch of two maps: counts add up over the batch
    batch = torch.stack([labels[0], torch.full((2, 3), 3)])
    torch.testing.assert_close(inverse_frequency_weights(batch, 3),
                               torch.tensor([0.0, 12 / 9, 12 / 3, 12 / 18]))
    with pytest.raises(ValueError, match="integer class ids"):
        inverse_frequency_weights(labels.float(), 3)


def test_torch_dataset_items():
    ds = _Memory()
    td = TorchDataset(ds, 16, 20, train=False, max_depth_m=8.0)
    item = td[1]
    assert item["index"] == 1
    assert item["rgb"].shape == (3, 16, 20) and item["rgb"].dtype == torch.float32
    assert item["depth"].shape == (1, 16, 20) and item["depth_m"].shape == (1, 16, 20)
    assert item["labels"].shape == (16, 20) and item["labels"].dtype == torch.int64
    expected = resize(ds[1], 16, 20)
    torch.testing.assert_close(item["rgb"],
                               torch.from_numpy(expected.rgb).permute(2, 0, 1) / 127.5 - 1)
    assert item["rgb"].min() >= -1 and item["rgb"].max() <= 1
    torch.testing.assert_close(item["depth_m"][0], torch.from_numpy(expected.depth_m))
    torch.testing.assert_close(item["depth"], metres_to_unit(item["depth_m"], 8.0))
    assert (item["depth"][item["depth_m"] == 0] == -1).all()
    np.testing.assert_array_equal(item["labels"].numpy(), expected.labels)


def test_torch_dataset_augmentation_is_deterministic():
    ds = _Memory(n=6)
    a = TorchDataset(ds, 16, 16, train=True, seed=3, crop=True)
    b = TorchDataset(ds, 16, 16, train=True, seed=3, crop=True)
    for i in range(len(ds)):
        torch.testing.assert_close(a[i]["rgb"], b[i]["rgb"])
    epoch0 = [a[i]["labels"] for i in range(len(ds))]
    a.set_epoch(1)
    epoch1 = [a[i]["labels"] for i in range(len(ds))]
    assert any(not torch.equal(x, y) for x, y in zip(epoch0, epoch1))
    other_seed = TorchDataset(ds, 16, 16, train=True, seed=4, crop=True)
    assert any(not torch.equal(other_seed[i]["labels"], epoch0[i]) for i in range(len(ds)))
    # evaluation is not random: centre crop, no flip
    ev = TorchDataset(ds, 16, 16, train=False, crop=True)
    np.testing.assert_array_equal(ev[0]["labels"].numpy(),
                                  center_crop(resize_to_cover(ds[0], 16, 16), 16, 16).labels)


def test_torch_dataset_workers_reproduce_main_process():
    td = TorchDataset(_Memory(n=4), 16, 16, train=True, seed=9, crop=True)
    td.set_epoch(2)
    main = [td[i] for i in range(4)]
    loader = torch.utils.data.DataLoader(td, batch_size=2, num_workers=1, shuffle=False)
    batches = list(loader)
    rgb = torch.cat([b["rgb"] for b in batches])
    torch.testing.assert_close(rgb, torch.stack([m["rgb"] for m in main]))
    assert torch.cat([b["index"] for b in batches]).tolist() == [0, 1, 2, 3]
