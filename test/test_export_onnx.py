"""ONNX export and the onnxruntime backend: checker, opset, metadata, parity with PyTorch
(RGB on [0, 255], depth in metres, within the stated tolerance), fixed and dynamic sizes,
seeds, provider selection and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx", reason="optional package onnx not installed")
pytest.importorskip("onnxruntime", reason="optional package onnxruntime not installed")

from scmis_core.checkpoint import CheckpointError  # noqa: E402
from scmis_core.engine.checkpoints import GanCheckpoint  # noqa: E402
from scmis_core.config import load_config  # noqa: E402
from scmis_core.data.labels import NYU40_CLASSES  # noqa: E402
from scmis_core.data.transforms import one_hot  # noqa: E402
from scmis_core.export import (DEPTH_TOLERANCE_M, RGB_TOLERANCE, blocky_labels,  # noqa: E402
                               main, parity, within_tolerance)
from scmis_core.models import build_generator  # noqa: E402
from scmis_core.onnx_graph import (OPSET, check_model, read_metadata,  # noqa: E402
                                   select_providers)
from scmis_core.synthesize import Synthesizer  # noqa: E402
from scmis_core.synthesize import main as synth_main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ("data.height=32", "data.width=32", "model.width=4", "model.num_scales=3",
        "model.spade_hidden=8", "model.z_dim=8")


def lively_checkpoint(path, overrides=TINY, seed=0):
    """A generator checkpoint whose outputs vary over the whole range without saturating (an
    untrained one with the 0.02-gain init emits almost constant images, against which any
    parity check passes): He-initialised convolutions, random biases, BatchNorm statistics
    measured on random label maps, and output convolutions scaled to a pre-tanh std of 0.7."""
    cfg = load_config(None, list(overrides))
    torch.manual_seed(seed)
    gen = build_generator(cfg.model, len(NYU40_CLASSES))
    z_shape = (4, cfg.model.z_dim) + ((32, 32) if cfg.model.spatial_noise else ())
    with torch.no_grad():
        for param in gen.parameters():
            if param.dim() == 4:
                torch.nn.init.kaiming_normal_(param, a=0.2, nonlinearity="leaky_relu")
            else:
                param.normal_(0.0, 0.1)
        norms = [m for m in gen.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average
        gen.train()
        for _ in range(2):
            gen(one_hot(torch.randint(0, 41, (4, 32, 32)), 40), torch.randn(z_shape))
        gen.eval()
        pre = {}
        hooks = [dec.to_out.register_forward_hook(
            lambda mod, inp, out, key=key: pre.__setitem__(key, out))
            for key, dec in gen.decoders.items()]
        gen(one_hot(torch.randint(0, 41, (4, 32, 32)), 40), torch.randn(z_shape))
        for hook in hooks:
            hook.remove()
        for key, dec in gen.decoders.items():
            dec.to_out.weight.mul_(0.7 / float(pre[key].std()))
            dec.to_out.bias.zero_()
    return GanCheckpoint(config=cfg.to_dict(), num_classes=len(NYU40_CLASSES),
                         class_names=list(NYU40_CLASSES), step=7,
                         models={"G": gen.state_dict()}).save(path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return lively_checkpoint(tmp_path_factory.mktemp("onnx") / "g.pt")


@pytest.fixture(scope="module")
def dynamic_onnx(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx_out") / "g.onnx"
    assert main(["--checkpoint", str(checkpoint), "--onnx", str(out), "--dynamic"]) == 0
    return out


def test_export_passes_checker_with_opset_and_metadata(dynamic_onnx, capsys):
    check_model(dynamic_onnx)  # onnx.checker full check + scmis metadata
    model = onnx.load(str(dynamic_onnx))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    assert [i.name for i in model.graph.input] == ["labels", "z"]
    assert [o.name for o in model.graph.output] == ["rgb", "depth_m"]
    dims = [d.dim_param or d.dim_value for d in
            model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "height", "width"]
    meta = read_metadata(dynamic_onnx)
    assert meta["num_classes"] == 40 and meta["z_dim"] == 8 and meta["multiple"] == 8
    assert meta["outputs"] == ["rgb", "depth"] and meta["size"] is None
    assert meta["step"] == 7 and meta["class_names"][0] == NYU40_CLASSES[0]


def test_parity_with_pytorch_at_several_sizes(checkpoint, dynamic_onnx):
    torch_synth = Synthesizer.from_checkpoint(checkpoint, device="cpu")
    ort_synth = Synthesizer.from_checkpoint(dynamic_onnx, device="cpu", backend="onnxruntime")
    assert ort_synth.providers == ["CPUExecutionProvider"]
    sizes = [(32, 48), (64, 24), (40, 40)]
    diffs = parity(torch_synth, ort_synth, sizes, batch=2, seed=3)
    assert diffs["rgb_255"] <= RGB_TOLERANCE and diffs["depth_m"] <= DEPTH_TOLERANCE_M, diffs
    # The comparison means something: the images are far from constant.
    out = torch_synth.synth_tensors(torch.from_numpy(blocky_labels(2, 32, 48, 40, 0)), seed=0)
    for key in ("rgb", "depth"):
        unit = out[key] if key == "rgb" else out[key] / 5.0 - 1.0
        assert unit.std() > 0.3 and (unit.abs() < 0.99).float().mean() > 0.5, key
    # ... and it fails for a different network (other weights, same architecture).
    other = Synthesizer.from_checkpoint(lively_checkpoint(dynamic_onnx.parent / "o.pt",
                                                          seed=1), device="cpu")
    assert not within_tolerance(parity(other, ort_synth, sizes[:1]))


def test_onnxruntime_backend_from_pt_matches_torch_and_keeps_seeds(checkpoint):
    torch_synth = Synthesizer.from_checkpoint(checkpoint, device="cpu")
    ort_synth = Synthesizer.from_checkpoint(checkpoint, device="cpu", backend="onnxruntime")
    assert ort_synth.backend == "onnxruntime" and ort_synth.step == 7
    labels = blocky_labels(1, 30, 45, 40, 5)[0]  # not a multiple of 8: resized both ways
    rgb_t, depth_t = torch_synth.synth(labels, seed=11)
    rgb_o, depth_o = ort_synth.synth(labels, seed=11)
    assert rgb_o.shape == (30, 45, 3) and rgb_o.dtype == np.uint8
    assert depth_o.shape == (30, 45) and depth_o.dtype == np.float32
    assert np.abs(rgb_o.astype(int) - rgb_t.astype(int)).max() <= 1
    assert np.abs(depth_o - depth_t).max() <= DEPTH_TOLERANCE_M
    again = ort_synth.synth(labels, seed=11)
    assert np.array_equal(again[0], rgb_o) and np.array_equal(again[1], depth_o)
    assert not np.array_equal(ort_synth.synth(labels, seed=12)[0], rgb_o)
    batch = ort_synth.synth(np.stack([labels, labels]), seed=11)
    assert batch[0].shape == (2, 30, 45, 3)


def test_fixed_size_export_resizes_inputs(checkpoint, tmp_path):
    out = tmp_path / "fixed.onnx"
    assert main(["--checkpoint", str(checkpoint), "--onnx", str(out), "--size", "24x40"]) == 0
    model = onnx.load(str(out))
    dims = [d.dim_param or d.dim_value for d in
            model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 24, 40]
    synth = Synthesizer.from_checkpoint(out, device="cpu", backend="onnxruntime")
    assert synth.size == (24, 40)
    rgb, depth = synth.synth(blocky_labels(1, 50, 70, 40, 1)[0], seed=0)
    assert rgb.shape == (50, 70, 3) and depth.shape == (50, 70)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        synth.runner(np.zeros((1, 32, 32), np.int64), np.zeros((1, 8), np.float32))


def test_spatial_noise_and_single_output_variant(tmp_path):
    ckpt = lively_checkpoint(tmp_path / "d.pt", TINY + ("model.variant=scmis-depth",
                                                       "model.spatial_noise=true"))
    torch_synth = Synthesizer.from_checkpoint(ckpt, device="cpu")
    ort_synth = Synthesizer.from_checkpoint(ckpt, device="cpu", backend="onnxruntime")
    assert ort_synth.outputs == ("depth",) and ort_synth.runner.metadata["spatial_noise"]
    diffs = parity(torch_synth, ort_synth, [(32, 32), (16, 40)])
    assert within_tolerance(diffs), diffs
    rgb, depth = ort_synth.synth(blocky_labels(1, 32, 32, 40, 2)[0], seed=1)
    assert rgb is None and depth.shape == (32, 32)


def test_synthesize_cli_with_onnxruntime_backend(dynamic_onnx, tmp_path):
    labels_dir = tmp_path / "labels"
    labels_dir.mkdir()
    from scmis_core.data.io import read_rgb, write_labels

    write_labels(labels_dir / "a.png", blocky_labels(1, 32, 48, 40, 0)[0].astype(np.uint8))
    out = tmp_path / "out"
    assert synth_main(["--checkpoint", str(dynamic_onnx), "--backend", "onnxruntime",
                       "--labels", str(labels_dir), "--variants", "2", "--device", "cpu",
                       "--out", str(out)]) == 0
    assert read_rgb(out / "rgb" / "a_v1.png").shape == (32, 48, 3)
    assert (out / "depth" / "a_v0.png").is_file()


def test_errors(checkpoint, dynamic_onnx, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="onnxruntime backend"):
        Synthesizer.from_checkpoint(dynamic_onnx, device="cpu", backend="torch")
    with pytest.raises(ValueError, match="backend: expected one of torch, onnxruntime"):
        Synthesizer.from_checkpoint(checkpoint, device="cpu", backend="tensorflow")
    # An ONNX file that is not an scmis export.
    plain = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]))
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(plain.SerializeToString())
    with pytest.raises(ValueError, match="expected an scmis export"):
        Synthesizer.from_checkpoint(foreign, device="cpu", backend="onnxruntime")
    # CLI: existing output, wrong suffix, size that is not a multiple of 2**num_scales.
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(checkpoint), "--onnx", str(dynamic_onnx)])
    assert "exists; pass --overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(checkpoint), "--onnx", str(tmp_path / "x.bin")])
    assert main(["--checkpoint", str(checkpoint), "--onnx", str(tmp_path / "y.onnx"),
                 "--size", "20x40"]) == 2
    assert "multiples of 2**num_scales = 8, found 20x40" in capsys.readouterr().err
    assert not (tmp_path / "y.onnx").exists()
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--onnx",
                 str(tmp_path / "z.onnx")]) == 2


def test_provider_selection():
    assert select_providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CPUExecutionProvider"]
    both = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers("cuda", both) == both
    assert select_providers("cuda:1", both[1:]) == both[1:]
    assert select_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="no CUDA or TensorRT execution provider"):
        select_providers("cuda", ["CPUExecutionProvider"])
