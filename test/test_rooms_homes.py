"""Homes mode of the procedural rooms: views of one home share its materials, test homes are
never training homes, the config and command-line paths reach it."""

from __future__ import annotations

import numpy as np
import pytest

from scmis_core.config import from_dict
from scmis_core.data import preview
from scmis_core.data.registry import dataset_from_config
from scmis_core.data.rooms import RoomsDataset
from scmis_core.data.rooms.homes import (ROOMS_PER_HOME, TEST_HOME_OFFSET, home_seed,
                                         home_view_scene)


def _materials(scene):
    return {(b.label, b.material) for b in scene.boxes}


def test_views_of_one_room_share_every_material_and_differ_in_view():
    home = home_seed(0, "train", 3)
    a, b = home_view_scene(home, 0), home_view_scene(home, ROOMS_PER_HOME)  # same room
    assert a.room_type == b.room_type and a.size_m == b.size_m
    assert (a.wall, a.floor, a.ceiling) == (b.wall, b.floor, b.ceiling)
    assert _materials(a) == _materials(b)
    assert (a.cam_pos, a.cam_yaw) != (b.cam_pos, b.cam_yaw)
    assert (a.light_rgb, a.ambient, a.exposure) != (b.light_rgb, b.ambient, b.exposure)


def test_rooms_of_one_home_share_its_paint_and_homes_differ():
    home = home_seed(0, "train", 0)
    rooms = [home_view_scene(home, v) for v in range(ROOMS_PER_HOME)]
    assert len({r.room_type for r in rooms}) == ROOMS_PER_HOME
    assert len({r.wall for r in rooms}) == 1 and len({r.ceiling for r in rooms}) == 1
    assert len({r.floor for r in rooms}) > 1 or len({r.size_m for r in rooms}) > 1
    walls = {home_view_scene(home_seed(0, "train", h), 0).wall for h in range(6)}
    assert len(walls) > 1


def test_no_test_home_is_a_train_home():
    train = {home_seed(7, "train", h) for h in range(3000)}
    for split in ("test", "val", "bag"):
        other = {home_seed(7, split, h) for h in range(3000)}
        assert not train & other
        assert min(other) >= TEST_HOME_OFFSET > max(train)


def test_config_homes_mode_sizes_the_splits_and_renders_views():
    cfg = from_dict({"data": {"height": 32, "width": 32, "rooms_homes": 2,
                              "rooms_views_per_home": 3, "rooms_test_size": 7,
                              "rooms_train_size": 999}}).data
    train, test = dataset_from_config(cfg, "train"), dataset_from_config(cfg, "test")
    assert len(train) == 6 and len(test) == 7
    assert {train.home_of(i)[0] for i in range(6)} == {home_seed(0, "train", h)
                                                        for h in range(2)}
    assert not {train.home_of(i)[0] for i in range(6)} & {test.home_of(i)[0]
                                                          for i in range(7)}
    a, b = train[0], train[0]
    np.testing.assert_array_equal(a.rgb, b.rgb)  # reproducible
    assert train[1].name.endswith("home0000-view001")
    assert not np.array_equal(train[0].rgb, train[3].rgb)  # same room, another view


def test_default_mode_is_unchanged_by_the_homes_keys():
    plain = RoomsDataset(2, 32, 32, seed=1)
    cfg = from_dict({"data": {"height": 32, "width": 32, "rooms_train_size": 2,
                              "seed": 1}}).data
    np.testing.assert_array_equal(dataset_from_config(cfg, "train")[1].rgb, plain[1].rgb)


def test_preview_has_one_row_per_home(tmp_path):
    out = tmp_path / "homes.png"
    assert preview.main(["--source", "rooms", "--homes", "3", "--views-per-home", "2",
                         "--size", "16x24", "--out", str(out)]) == 0
    from scmis_core.data.io import read_rgb

    image = read_rgb(out)
    gap = preview.GAP
    assert image.shape[0] == 3 * (16 + gap) - gap
    assert image.shape[1] == 2 * 3 * (24 + gap) - gap


@pytest.mark.parametrize("argv, message", [
    (["--homes", "-1"], "--homes"),
    (["--homes", "2", "--views-per-home", "0"], "--views-per-home"),
])
def test_preview_refuses_bad_home_counts(tmp_path, capsys, argv, message):
    code = preview.main(["--source", "rooms", *argv, "--out", str(tmp_path / "x.png")])
    assert code == 2
    assert message in capsys.readouterr().err
