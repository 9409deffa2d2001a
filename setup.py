"""Packaging detail that pyproject.toml cannot say: the repository's top-level ``assets/`` folder
(the offline models mmbench trains, example media) ships inside the wheel as ``mmbench/assets``,
so a non-editable ``pip install .`` finds its offline models (``mmbench.registry.ASSETS_DIR``)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["mmbench", "mmbench.*"]), "mmbench.assets"],
    package_dir={"mmbench.assets": "assets"},
    package_data={"mmbench": ["registry.toml"], "mmbench.assets": ["**/*"]},
    exclude_package_data={"mmbench": ["**/*.pyi"]},
)
