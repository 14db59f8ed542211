"""scipy's differential-evolution solver, stepped one generation at a time, with its state as data.

The one place of the project that touches private names of a third-party package. scipy offers
no public way to step differential evolution and save its state between generations:
``scipy.optimize.differential_evolution`` runs to the end in one call, and the solver class it
drives, ``DifferentialEvolutionSolver``, lives in the private module
``scipy.optimize._differentialevolution``; its evaluation count (``_nfev``) and the index array
it shuffles in place (``_random_population_index``) are private attributes, yet part of the
state a resumed search must restore to end exactly as an uninterrupted one. A scipy upgrade that
moves them breaks this module only (and ``tests/calibration/test_calibration_search.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize._differentialevolution import DifferentialEvolutionSolver


class SteppedSolver:
    """A ``DifferentialEvolutionSolver`` (same arguments) driven a generation at a time."""

    def __init__(self, objective, bounds, **options: Any):
        self._solver = DifferentialEvolutionSolver(objective, bounds, **options)

    @property
    def maxiter(self) -> int:
        return self._solver.maxiter

    @property
    def nfev(self) -> int:
        """Objective evaluations so far (restored on resume)."""
        return int(self._solver._nfev)

    @property
    def energies(self) -> np.ndarray:
        """The population's losses, best first."""
        return self._solver.population_energies

    @property
    def x(self) -> np.ndarray:
        """The best member."""
        return self._solver.x

    def converged(self) -> bool:
        return bool(self._solver.converged())

    def step(self) -> bool:
        """One generation; False when the solver has nothing left to do (its budget is spent)."""
        try:
            next(self._solver)
        except StopIteration:
            return False
        return True

    def state(self) -> dict[str, Any]:
        """Everything a resumed solver needs, as JSON-ready values."""
        s = self._solver
        return {
            "nfev": self.nfev,
            "population": s.population.tolist(),
            "energies": s.population_energies.tolist(),
            "feasible": s.feasible.tolist(),
            "constraint_violation": s.constraint_violation.tolist(),
            "rng": s.random_number_generator.bit_generator.state,
            "population_index": s._random_population_index.tolist(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`state` (the solver must have been built with the same arguments)."""
        s = self._solver
        s.population = np.array(state["population"], dtype=float)
        s.population_energies = np.array(state["energies"], dtype=float)
        s.feasible = np.array(state["feasible"], dtype=bool)
        s.constraint_violation = np.array(state["constraint_violation"], dtype=float)
        s.random_number_generator.bit_generator.state = state["rng"]
        s._random_population_index = np.array(state["population_index"], dtype=np.int64)
        s._nfev = int(state["nfev"])
