# scmis — two commands on a fresh machine:
#   make demo   set up .venv and run the main job end to end on the procedural rooms data
#   make test   set up .venv and run the test suite (make test-fast: without the slow tests)
# Set-up is idempotent: dependencies are installed once per change of the requirements files
# (stamp file in .venv); the project itself is reinstalled (non-editable, seconds) every run so
# that `ros2 launch` / `ros2 run` see the current launch, config and node files.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# The ROS 2 launch / launch_testing / ros2cli wheels: vendored in the repository (see the
# folder's README.md); another folder: make LAUNCH_WHEELS=/path.
# The small real NYUv2 bundle (optional; data cannot be committed): make NYU_MINI=/path;
# by default data/nyu_mini in this checkout, else the first */data/nyu_mini folder beside
# the checkout (a development data bundle), else none and the tests that read it skip.
LAUNCH_WHEELS ?= third_party/ros2-launch-wheels
NYU_MINI ?= $(abspath $(firstword $(wildcard data/nyu_mini ../*/data/nyu_mini)))
DEMO_DIR ?= demo_out
REQS := requirements.txt requirements-onnx.txt requirements-launch.txt constraints.txt
STAMP := $(VENV)/.scmis-deps-stamp

# DDS stays on this machine: loopback discovery only (Kilted), localhost only (older distros).
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_LOCALHOST_ONLY := 1
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export SCMIS_NYU_MINI := $(NYU_MINI)
export PYTHONUNBUFFERED := 1

.PHONY: venv install demo test test-fast clean help

help:
	@echo "make demo   - create .venv, install, run the rooms demo (outputs in $(DEMO_DIR)/)"
	@echo "make test   - create .venv, install, run the tests"
	@echo "make test-fast - the same without the tests marked slow (the inner loop)"
	@echo "make clean  - remove .venv, build files and $(DEMO_DIR)/"

$(STAMP): $(REQS) $(wildcard $(LAUNCH_WHEELS)/*.whl)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt -r requirements-onnx.txt -c constraints.txt
	@if [ -d "$(LAUNCH_WHEELS)" ]; then \
	  echo "installing ROS 2 launch wheels from $(LAUNCH_WHEELS)"; \
	  $(PIP) install -q --find-links "$(LAUNCH_WHEELS)" -r requirements-launch.txt \
	    -c constraints.txt; \
	else \
	  echo "note: $(LAUNCH_WHEELS) not found: launch tests will be skipped"; \
	fi
	@touch $@

venv: $(STAMP)

install: venv
	@$(PIP) install -q --no-deps --no-build-isolation --force-reinstall . 2>&1 \
	  | grep -v "^$$" || true
	@rm -rf build *.egg-info

# The demo uses the weights shipped in scmis_core/weights (python -m scmis_core.pretrained
# list): the rooms generator for synthesis, bag augmentation and the ROS pipeline, the
# rooms-judge segmenter for mIoU; its own training run fine-tunes the shipped generator.
DEMO_STEPS ?= 300
DEMO_EVAL_IMAGES ?= 50
DEMO_ROS_SECONDS ?= 60

demo: install
	$(PY) -m scmis_core.data.export --source rooms --split all --n 64 --size 240x320 \
	  --overwrite --out $(DEMO_DIR)/rooms_nyu_layout
	$(PY) -m scmis_core.data.preview --source rooms --n 6 --size 240x320 \
	  --out $(DEMO_DIR)/rooms_preview.png
	$(PY) -m scmis_core.data.rooms --bench --size 240x320 --n 20
	$(PY) -m scmis_core.pretrained list
	rm -rf $(DEMO_DIR)/train
	@# fine-tuning sees DEMO_STEPS x 4 frames: only those are rendered into the frame cache
	$(PY) -m scmis_core.train --config config/rooms_small.yaml --run-dir $(DEMO_DIR)/train \
	  --no-eval --init-from rooms train.steps=$(DEMO_STEPS) train.sample_every=100 \
	  train.ckpt_every=100 data.rooms_train_size=$$(( $(DEMO_STEPS) * 4 ))
	$(PY) -m scmis_core.synthesize --checkpoint rooms --source rooms \
	  --n 6 --variants 3 --size 64x64 --overwrite --out $(DEMO_DIR)/synth
	$(PY) -m scmis_core.evaluate --config config/rooms_small.yaml \
	  --checkpoint $(DEMO_DIR)/train/untrained.pt --checkpoint $(DEMO_DIR)/train/final.pt \
	  --checkpoint rooms --segmenter rooms-judge --num-images $(DEMO_EVAL_IMAGES) \
	  --out $(DEMO_DIR)/eval
	$(PY) -m scmis_ros.demo --out $(DEMO_DIR)/ros --checkpoint rooms \
	  --segmenter rooms-judge --seconds $(DEMO_ROS_SECONDS)
	@echo
	@echo "demo outputs:"
	@echo "  $(DEMO_DIR)/rooms_nyu_layout/        procedural rooms in the NYUv2 layout"
	@echo "  $(DEMO_DIR)/rooms_preview.png        rgb | depth | labels rows"
	@echo "  $(DEMO_DIR)/train/                   $(DEMO_STEPS) steps fine-tuning the shipped"
	@echo "      rooms generator: samples/*.png, metrics.jsonl, tb/, untrained.pt, final.pt"
	@echo "  $(DEMO_DIR)/synth/grid.png           shipped generator: label | 3 RGB-D variants"
	@echo "  $(DEMO_DIR)/eval/report.md           FID / mIoU (judge rooms-judge) / depth errors"
	@echo "      of untrained | this demo's fine-tuned run | the shipped rooms generator"
	@echo "  $(DEMO_DIR)/ros/bag_preview.png      rooms bag + synth/mixed topics"
	@echo "  $(DEMO_DIR)/ros/pipeline_preview.png rooms -> synth -> mix -> fine-tune, one frame"
	@echo "  $(DEMO_DIR)/ros/finetune/            rooms-judge fine-tuned on mixed frames"

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info $(DEMO_DIR)
