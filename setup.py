"""The design's entry point (`python setup.py ...`, `pip install -e .`): every setting is in
pyproject.toml (metadata, dependencies, extras, console scripts, package data)."""

from setuptools import setup

setup()
