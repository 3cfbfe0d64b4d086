"""Cutout's benchmarks against rembg: `make bench` (see bench/run.py).

Runs in its own environment (bench/.venv, bench/requirements.txt) because it
needs rembg and matplotlib, which the service and its tests never import.
"""
