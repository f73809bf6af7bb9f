"""Environments: the uv venvs of cells and runtimes, the disk they cost, bytecode, find-links.

Imports nothing at package level: noxfile.py takes ``bytecode`` and ``findlinks`` before anything is installed.
"""
