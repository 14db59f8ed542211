"""Benchmarks: ``python -m benchmarks [NAME ...]`` (or ``make bench``).

Every ``bench_*.py`` module in this folder exposes ``main()``, which measures something and prints
its figures; nothing is asserted. Benchmarks are not part of the test suite.
"""
