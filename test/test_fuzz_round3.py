"""Fuzz the surfaces of reliability round 3: compressed payloads (mutated and with huge
declared sizes), CameraInfo extremes, a damaged frame cache and damaged experiment results.

Each case must end in a result or in its one clear error type; any other exception is a
failure naming the seed that reproduces it. ``COUNT`` cases per kind in the default lane,
``SLOW_COUNT`` under ``-m slow`` (as test_fuzz_loaders).
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from test_fuzz_loaders import COUNTS, mutate

pytestmark = pytest.mark.usefixtures("one_thread")


# --- compressed payloads ---------------------------------------------------------------------

def _payloads():
    from scmis_ros import image_codecs as ic

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 16, 3)).astype(np.uint8)
    return {"jpeg": ic.encode_image(rgb, "rgb8", "jpeg"),
            "png": ic.encode_image(rgb, "rgb8", "png"),
            "labels": ic.encode_image(rng.integers(0, 40, (12, 16)).astype(np.uint8), "mono8",
                                      "png"),
            "depth": ic.encode_compressed_depth(rng.uniform(0.5, 8, (12, 16)).astype(np.float32),
                                                "32FC1")}


def _declare(data: bytes, height: int, width: int) -> bytes:
    """``data`` (PNG, JPEG or compressedDepth) with the declared size replaced."""
    from scmis_ros import image_codecs as ic

    offset = ic.CONFIG_HEADER.size if not data.startswith((ic.PNG_SIGNATURE, b"\xff\xd8")) \
        else 0
    body = bytearray(data[offset:])
    if body.startswith(ic.PNG_SIGNATURE):
        body[16:24] = struct.pack(">II", width, height)
    else:
        i = 2
        while body[i + 1] not in (0xC0, 0xC1, 0xC2):
            i += 2 + struct.unpack(">H", body[i + 2:i + 4])[0]
        body[i + 5:i + 9] = struct.pack(">HH", height % 65536, width % 65536)
    return data[:offset] + bytes(body)


@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_compressed_payloads_and_bombs(count):
    from scmis_ros import image_codecs as ic

    seeds = _payloads()
    kinds = sorted(seeds)
    outcomes = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        kind = kinds[seed % len(kinds)]
        fmt, data = seeds[kind]
        if rng.random() < 0.4:  # a declared size from tiny to absurd
            h, w = (int(v) for v in rng.choice([0, 1, 7, 4096, 8193, 20000, 65535, 100000],
                                               size=2))
            name, data = f"declare {w}x{h}", _declare(data, h, w)
        else:
            name, data = mutate(data, rng)
        try:
            image, _ = ic.decode(fmt, data)
            assert image.shape[0] * image.shape[1] <= ic.MAX_DECODE_PIXELS
            outcomes.append("ok")
        except ic.CompressedImageError as exc:
            assert "\n" not in str(exc)
            outcomes.append("error")
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{kind} payload seed {seed} ({name}): {type(exc).__name__} "
                        f"escaped: {exc}")
    assert "error" in outcomes


# --- CameraInfo extremes ---------------------------------------------------------------------

EXTREMES = [0.0, -1.0, 5e-324, 1e-300, 1e-3, 0.5, 1.0, 300.0, 525.0, 1e5, 1e12, 1e308,
            math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_camera_info_extremes(count):
    from scmis_ros.camera_info import CameraModel
    from scmis_ros.pointcloud import depth_to_points, pointcloud2_fields

    outcomes = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        pick = lambda: float(rng.choice(EXTREMES)) if rng.random() < 0.5 \
            else float(rng.uniform(1, 1000))  # noqa: E731
        h, w = (int(v) for v in rng.choice([0, 1, 48, 480, 640, 100000], size=2))
        k = (pick(), 0.0, pick(), 0.0, pick(), pick(), 0.0, 0.0, 1.0)
        out_h, out_w = (int(v) for v in rng.choice([1, 24, 32, 480, 640], size=2))
        try:
            camera = CameraModel(h, w, k).scaled(out_h, out_w)
        except ValueError as exc:
            assert "\n" not in str(exc)
            outcomes.append("refused")
            continue
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"camera seed {seed} ({h}x{w} K {k}): {type(exc).__name__}: {exc}")
        assert all(math.isfinite(v) for v in camera.k), (seed, camera.k)
        depth = rng.uniform(0.3, 9.0, (out_h, out_w)).astype(np.float32)
        points = depth_to_points(depth, None, camera)
        fields = pointcloud2_fields(points)
        finite = all(np.isfinite(points[n]).all() for n in ("x", "y", "z"))
        assert finite and fields["is_dense"], f"camera seed {seed}: non-finite points"
        outcomes.append("ok")
    assert "refused" in outcomes and "ok" in outcomes


# --- frame cache -----------------------------------------------------------------------------

@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_frame_cache_damage(count, tmp_path, capsys):
    from scmis_core.config import from_dict
    from scmis_core.data import frame_cache
    from scmis_core.data.registry import dataset_from_config

    cfg = from_dict({"data": {"height": 32, "width": 32, "rooms_train_size": 3, "cache": True,
                              "cache_dir": str(tmp_path / "cache"), "num_workers": 0}}).data
    first = dataset_from_config(cfg, "train")
    want = [first[i].rgb.copy() for i in range(len(first))]
    folder = first.path
    del first
    names = ["rgb.npy", "depth.npy", "labels.npy", "meta.json"]
    pristine = {n: (folder / n).read_bytes() for n in names}
    for seed in range(count):
        rng = np.random.default_rng(seed)
        target = names[seed % len(names)]
        for n in names:  # back to the pristine cache, then damage one file
            (folder / n).write_bytes(pristine[n])
        name, data = mutate(pristine[target], rng)
        if rng.random() < 0.15:
            (folder / target).unlink()
            name = "deleted"
        else:
            (folder / target).write_bytes(data)
        frame_cache._VERIFIED.clear()
        try:
            again = dataset_from_config(cfg, "train")
            got = [again[i].rgb for i in range(len(again))]
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"cache seed {seed} ({target}: {name}): {type(exc).__name__}: {exc}")
        assert all(np.array_equal(a, b) for a, b in zip(got, want)), \
            f"cache seed {seed} ({target}: {name}) served wrong pixels"
        pristine = {n: (folder / n).read_bytes() for n in names}  # rebuilt or unchanged
    capsys.readouterr()


# --- experiment results ----------------------------------------------------------------------

@pytest.mark.parametrize("count", COUNTS)
def test_fuzz_experiment_results(count, tmp_path, monkeypatch, capsys):
    from scmis_core.experiments import Runner, RunSpec
    from scmis_core.experiments import runner as runner_mod
    from scmis_core.experiments.report import _load_results

    calls = []

    def execute(spec, ctx):
        calls.append(spec.key)
        return {"value": 1}

    monkeypatch.setitem(runner_mod.EXECUTORS, "fake", execute)

    class Plan:
        def runs(self, finished):
            return [RunSpec(key="a", kind="fake", params={})]

    Runner(Plan(), tmp_path, log=lambda text: None).run()
    good = (tmp_path / "results" / "a.json").read_bytes()
    for seed in range(count):
        rng = np.random.default_rng(seed)
        name, data = mutate(good, rng)
        if rng.random() < 0.3:  # well-formed JSON of the wrong shape
            data = json.dumps(rng.choice(["{}", "[]", "null", "3", '{"key": "a"}'])).encode()
            data = json.loads(data).encode()
            name = "shape"
        (tmp_path / "results" / "a.json").write_bytes(data)
        try:
            loaded = _load_results(tmp_path / "results")
            assert loaded["a"]["key"] == "a"
        except ValueError as exc:
            assert "a.json" in str(exc) and "\n" not in str(exc)
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"result seed {seed} ({name}): report: {type(exc).__name__}: {exc}")
        try:
            Runner(Plan(), tmp_path, log=lambda text: None).run()
        except runner_mod.SpecMismatch as exc:  # valid, but altered settings: named, refused
            assert "a.json" in str(exc) and "\n" not in str(exc)
            continue
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"result seed {seed} ({name}): rerun: {type(exc).__name__}: {exc}")
        assert json.loads((tmp_path / "results" / "a.json").read_text())["key"] == "a"
    capsys.readouterr()
