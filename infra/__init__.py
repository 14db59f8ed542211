"""Shared infrastructure: what the calibration, the experiments and the command line build on.

Nothing here knows the model: ``atomic`` writes files and run folders complete or not at all,
``execution`` runs independent tasks in this process, a local process pool or (``dask_cluster``)
a Dask cluster, and ``provenance`` records package versions and the git commit. This package
imports no other package of the project (see ``docs/architecture.md``).
"""
