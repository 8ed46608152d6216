"""ament_python package ``omni_ros`` (plus ``omni_ros_sim`` from sim/).

Installs with colcon on a ROS 2 install, or with ``pip install -e .`` into the venv that
``make setup`` builds (see README.md).
"""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "omni_ros"

NODES = {
    # executable name -> module with a main()
    "sensor_monitor": "omni_ros.nodes.sensor_monitor",
    "demo_talker": "omni_ros.nodes.demo_talker",
    "sim_bridge": "omni_ros.nodes.sim_bridge",
    "demo_driver": "omni_ros.nodes.demo_driver",
    "perception": "omni_ros.nodes.perception",
    "encoder": "omni_ros.nodes.encoder",
    "fusion": "omni_ros.nodes.fusion",
    "cloud_gateway": "omni_ros.nodes.cloud_gateway",
    "teleop": "omni_ros.nodes.teleop",
    "action": "omni_ros.nodes.action",
    "viz": "omni_ros.nodes.viz",
    "arm_executor": "omni_ros.nodes.arm_executor",
}

HERE = Path(__file__).resolve().parent

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["omni_ros", "omni_ros.*"])
    + ["omni_ros_sim"] + [f"omni_ros_sim.{p}" for p in find_packages("sim")],
    package_dir={"omni_ros_sim": "sim"},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/tf", glob("config/tf/*.yaml")),  # omni-ros frames
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
        (f"share/{PACKAGE}/models", glob("models/*.pt") + glob("models/*.md") + glob("models/*.png")),
    ],
    install_requires=["setuptools"],
    # The pretrained text backend (text.backend: minilm); pins in requirements/sentence.txt.
    # Whisper and the model-based voice detectors (asr.backend, vad); pins in requirements/speech.txt.
    extras_require={extra: [line for line in (HERE / f"requirements/{extra}.txt").read_text().splitlines()
                            if line and not line.startswith("#")] for extra in ("sentence", "speech")},
    zip_safe=False,
    maintainer="omni_ros maintainers",
    maintainer_email="maintainers@users.noreply.r-seed-1a36fac7.example",
    description="Shared-latent multimodal perception and teleoperation for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["omni-ros = omni_ros.cli:main"]
        + [f"{exe} = {module}:main" for exe, module in NODES.items()],
    },
)
