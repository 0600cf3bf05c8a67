"""The CUDA path of the trainer and the inference graph (``pytest -m gpu``; skipped without a
GPU): bf16 / fp16 autocast with GradScaler, channels_last, torch.compile, SyncBatchNorm
conversion + NCCL DDP, exact resume on CUDA, onnxruntime's CUDA provider.

``bench/gpu_check.sh`` runs these first on a GPU machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from scmis_core.config import from_dict
from scmis_core.data.transforms import one_hot
from scmis_core.export import blocky_labels
from scmis_core.models import build_generator
from scmis_core.onnx_graph import SynthesisGraph

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

REPO = Path(__file__).resolve().parents[1]
TINY = {"data": {"height": 32, "width": 32, "rooms_train_size": 8, "rooms_test_size": 4,
                 "num_workers": 0},
        "model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 8,
                  "disc_width": 8, "disc_head_width": 16},
        "train": {"batch_size": 2, "log_every": 1, "sample_every": 100, "ema_decay": 0.9,
                  "device": "cuda"}}


def tiny_trainer(tmp_path, **train):
    from scmis_core.train import Trainer

    sections = {k: dict(v) for k, v in TINY.items()}
    sections["train"].update(train)
    return Trainer(from_dict(sections), tmp_path, progress=False)


def steps(trainer, count):
    batches = trainer.stream.from_step(trainer.step)
    losses = [trainer.train_step(next(batches)) for _ in range(count)]
    if hasattr(batches, "close"):
        batches.close()
    return losses


def finite(losses):
    return all(torch.isfinite(torch.tensor(v)) for terms in losses for v in terms.values())


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_and_grad_scaler(tmp_path, amp):
    trainer = tiny_trainer(tmp_path, amp=amp)
    assert trainer.device.type == "cuda"
    assert trainer.amp_dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    # GradScaler only for fp16 (bf16 has fp32's range).
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    with torch.no_grad(), trainer._autocast():
        labels = torch.from_numpy(blocky_labels(2, 32, 32, 40, 0)).cuda()
        fake = trainer.G(one_hot(labels, 40), torch.randn(2, 8, device="cuda"))
    assert fake["rgb"].dtype == trainer.amp_dtype
    losses = steps(trainer, 3)
    assert finite(losses), losses
    if amp == "fp16":
        assert trainer.scaler.get_scale() > 0
        assert "scale" in trainer.scaler.state_dict()


def test_channels_last(tmp_path):
    trainer = tiny_trainer(tmp_path, channels_last=True)
    convs = [m for m in trainer.generator.modules() if isinstance(m, nn.Conv2d)]
    weights = [getattr(m, "weight") for m in convs]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert finite(steps(trainer, 2))
    # Same function as the contiguous layout (TF32 convolutions: loose tolerance).
    gen = trainer.generator.eval()
    labels = torch.from_numpy(blocky_labels(2, 32, 32, 40, 1)).cuda()
    onehot, z = one_hot(labels, 40), torch.randn(2, 8, device="cuda")
    with torch.no_grad():
        a = gen(onehot.contiguous(memory_format=torch.channels_last), z)
        b = gen.to(memory_format=torch.contiguous_format)(onehot, z)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=2e-2), key


def test_torch_compile_training_and_inference(tmp_path):
    trainer = tiny_trainer(tmp_path, compile=True)
    assert finite(steps(trainer, 2))
    cfg = from_dict(TINY)
    gen = build_generator(cfg.model, 40).cuda().eval()
    graph = SynthesisGraph(gen, 40, 10.0).cuda()
    compiled = torch.compile(graph)
    labels = torch.from_numpy(blocky_labels(2, 32, 48, 40, 2)).cuda()
    z = torch.randn(2, 8, device="cuda")
    with torch.inference_mode():
        for got, want in zip(compiled(labels, z), graph(labels, z)):
            assert torch.allclose(got, want, atol=1e-2)


def test_sync_batchnorm_conversion_and_nccl_ddp_step():
    cfg = from_dict(TINY)
    gen = build_generator(cfg.model, 40)
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in gen.modules())
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(gen)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in converted.modules()) == norms > 0
    proc = subprocess.run([sys.executable, "-m", "scmis_core.gpu_check", "--ddp-worker"],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == "nccl" and result["sync_batchnorm_layers"] > 0
    assert result["grads_finite"] and result["params_changed"] > 0 and result["all_reduce_ok"]


RESUME_SCRIPT = r"""
import json, sys, warnings
import torch
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
torch.use_deterministic_algorithms(True, warn_only=True)
from scmis_core.checkpoint import load_checkpoint
from scmis_core.train import main
full, part, common = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert main(["--run-dir", full, "--no-eval", "--no-progress", "train.steps=4", *common]) == 0
    assert main(["--run-dir", part, "--no-eval", "--no-progress", "train.steps=2", *common]) == 0
    assert main(["--resume", part, "--no-eval", "--no-progress", "train.steps=4"]) == 0
a = load_checkpoint(full + "/final.pt")["models"]
b = load_checkpoint(part + "/final.pt")["models"]
diff = {name: max(float((a[name][k].double() - b[name][k].double()).abs().max())
                  for k in a[name] if a[name][k].is_floating_point()) for name in a}
nondet = sorted({str(w.message)[:200] for w in caught if "deterministic" in str(w.message)})
print(json.dumps({"max_abs_diff": diff, "nondeterministic_ops": nondet}))
"""


def test_exact_resume_on_cuda(tmp_path):
    """Stop at step 2, resume to 4: the weights equal an uninterrupted 4-step run's, bit for
    bit (deterministic cuDNN; ops without a deterministic CUDA kernel are named if not)."""
    common = [f"{sec}.{k}={str(v).lower() if isinstance(v, bool) else v}"
              for sec, vals in TINY.items() for k, v in vals.items()]
    common += ["train.ckpt_every=2", "train.keep_last=5"]
    env = dict(os.environ, CUBLAS_WORKSPACE_CONFIG=":4096:8")
    proc = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "full"),
                           str(tmp_path / "part"), json.dumps(common)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(v == 0.0 for v in result["max_abs_diff"].values()), result


def test_onnxruntime_cuda_provider_matches_torch():
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"onnxruntime {ort.__version__} has no CUDA provider "
                    f"({ort.get_available_providers()})")
    from scmis_core.onnx_graph import OnnxGenerator, export_onnx

    cfg = from_dict(TINY)
    gen = build_generator(cfg.model, 40).eval()
    runner = OnnxGenerator(export_onnx(gen, 40, max_depth_m=10.0), "cuda")
    assert runner.providers[0] in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    labels = blocky_labels(2, 32, 48, 40, 3)
    z = torch.randn(2, 8)
    out = runner(labels, z.numpy())
    with torch.inference_mode():
        rgb, depth = SynthesisGraph(gen, 40, 10.0)(torch.from_numpy(labels), z)
    assert abs(out["rgb"] - rgb.numpy()).max() * 127.5 <= 0.5
    assert abs(out["depth"] - depth.numpy()).max() <= 1e-3
