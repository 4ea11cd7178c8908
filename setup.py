"""Package discovery, the one thing pyproject.toml cannot say: every package under nndoctor/ is found, and the
built-in checks, which live in checks/ (one module per check), install as the package nndoctor.checks."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["nndoctor", "nndoctor.*"]) + ["nndoctor.checks"],
      package_dir={"nndoctor.checks": "checks"})
