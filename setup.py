"""Installs the `l3net` library and the `data_tools` converters with their console scripts.

The build system and tool settings are in pyproject.toml; the package metadata stays here. The
version has one source, `__version__` in l3net/__init__.py (read below without importing l3net).
The flagfiles of configs/ ship as package data: the package `l3net.configs` is the repository's
configs/ folder (package_dir), so a wheel installs them as l3net/configs/*.flags while a checkout
keeps them at the top level (l3net.shipped_configs.configs_dir finds either).
"""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version() -> str:
    with open(os.path.join(HERE, "l3net", "__init__.py"), encoding="utf-8") as f:
        match = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not match:
        raise RuntimeError("l3net/__init__.py: no __version__ line")
    return match.group(1)


def _readme() -> str:
    path = os.path.join(HERE, "README.md")
    if not os.path.isfile(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read()


setup(
    name="l3net",
    version=_version(),
    description="Audio-visual correspondence learning (L3-Net, AVE-Net) in TensorFlow/Keras",
    long_description=_readme(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["l3net", "l3net.*", "data_tools", "data_tools.*"]) + ["l3net.configs"],
    package_dir={"l3net.configs": "configs"},
    package_data={"l3net.configs": ["*.flags"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.18",
        "keras>=3.6",
        "numpy",
        "scipy",
        "absl-py",
        "av>=12",  # PyAV: all media decoding/encoding (tensorflow-io's ffmpeg ops do not load).
        "matplotlib",
        "tensorboard",  # tf.summary writers; TensorFlow >= 2.20 no longer pulls it in.
        "scikit-learn",
    ],
    extras_require={
        "test": ["pytest", "ruff"],
        # `l3net_data convert --runner=...` (data_tools/beam_convert.py). Checked with TensorFlow 2.21:
        # apache-beam 2.77 wants protobuf < 7 and TensorFlow accepts >= 6.31.1, so pip picks 6.33.
        "beam": ["apache-beam>=2.60"],
    },
    entry_points={
        "console_scripts": [
            "l3net_data=data_tools.cli:run",
            "l3net_train=l3net.train.main:run",
            "l3net_eval=l3net.evaluation.cli:run",
            "l3net_demo=l3net.demo:run",
            "l3net_probe=l3net.evaluation.probe_cli:run",
            "l3net_retrieval=l3net.evaluation.retrieval_cli:run",
            "l3net_localize=l3net.localization.localize_cli:run",
            "l3net_export=l3net.serving.cli:run",
            "l3net_embed=l3net.embed.cli:run",
        ]
    },
)
