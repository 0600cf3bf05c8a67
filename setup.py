"""ament_python package ``scmis_ros``; it also installs the framework-agnostic ``scmis_core``.

The ROS executables are installed one way only: the small wrappers in ``lib/scmis_ros/``
(data files, so ``<prefix>/lib/scmis_ros/<exe>`` under ``colcon build`` and under ``pip
install .`` alike), which ``ros2 run scmis_ros <exe>`` and ``launch_ros``
``Node(package='scmis_ros', executable=...)`` find. They are not console scripts too: under
colcon those would be written to the same paths (and ``pip`` would put them in ``bin/``,
where ROS does not look). The command-line tools ``scmis-*`` are console scripts in
``<prefix>/bin``.
"""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = "scmis_ros"

# ROS executables: name -> module with a main(); each is a wrapper in lib/scmis_ros/ (tested).
EXECUTABLES = {
    "rooms_source": "scmis_ros.rooms_source",
    "synth_node": "scmis_ros.synth_node",
    "mix_node": "scmis_ros.mix_node",
    "finetune_node": "scmis_ros.finetune_node",
    "label_node": "scmis_ros.label_node",
    "bag_source": "scmis_ros.bag_source",
    "bag_record": "scmis_ros.bag_record",
    "augment_bag": "scmis_ros.bag_augment",
}
CLIS = {
    "scmis-config": "scmis_core.config",
    "scmis-export": "scmis_core.data.export",
    "scmis-preview": "scmis_core.data.preview",
    "scmis-rooms": "scmis_core.data.rooms",
    "scmis-train": "scmis_core.train",
    "scmis-synthesize": "scmis_core.synthesize",
    "scmis-evaluate": "scmis_core.evaluate",
    "scmis-segment": "scmis_core.segment",
    "scmis-bench": "scmis_core.bench",
    "scmis-onnx-export": "scmis_core.export",
    "scmis-pretrained": "scmis_core.pretrained.__main__",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["scmis_core", "scmis_core.*", "scmis_ros", "scmis_ros.*"]),
    # the shipped weights (python -m scmis_core.pretrained list): NAME.pt + .json + .sha256
    package_data={"scmis_core": ["py.typed", "weights/*.pt", "weights/*.json",
                                 "weights/*.sha256"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.yaml"))),
        (f"share/{PACKAGE}/config/ros", sorted(glob("config/ros/*"))),
        (f"lib/{PACKAGE}", sorted(p for p in glob(f"lib/{PACKAGE}/*") if os.path.isfile(p))),
    ],
    install_requires=["setuptools"],
    # Optional ONNX export / onnxruntime backend (requirements-onnx.txt): pip install .[onnx]
    extras_require={"onnx": ["onnx==1.23.2", "onnxruntime==1.32.0"]},
    zip_safe=False,
    maintainer="scmis maintainers",
    maintainer_email="maintainers@users.noreply.r-seed-20025fca.example",
    description="Semantic RGB-D image synthesis (SCMIS) for ROS 2: synthesize, mix, fine-tune.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [f"{name} = {module}:main" for name, module in CLIS.items()],
    },
)
