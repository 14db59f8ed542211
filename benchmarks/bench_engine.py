"""Engine vs reference: agent-steps per second at 10,000 doctors, measured side by side.

An agent-step is one agent (doctor or patient) through one week. Both models run the same
synthetic region (10,000 doctors, 20,000 persons at scale 1, same parameters) over the same
weeks, one after the other in this process; the ratio is what counts.
"""

from __future__ import annotations

import time

from model import Uncertainties, simulate
from model.reference import simulate_reference
from model.synthetic import synthetic_inputs

DOCTORS = (6_000, 3_000, 500, 500)  # 10,000 doctors of the four types
PERSONS = 20_000
END = "2019-06-30"  # 42 weeks
UNC = Uncertainties(p_external=0.3, open_share=0.2, awareness_media=1.0)


def main() -> None:
    inputs = synthetic_inputs(doctors=DOCTORS, persons=PERSONS)
    agents = sum(DOCTORS) + PERSONS
    simulate(UNC, seed=0, scale=1, inputs=inputs, end="2018-10-01")  # build the population once
    t0 = time.perf_counter()
    engine = simulate(UNC, seed=0, scale=1, inputs=inputs, end=END)
    t_engine = time.perf_counter() - t0
    weeks = len(engine)
    t0 = time.perf_counter()
    reference = simulate_reference(inputs, UNC, seed=0, end=END)["weekly"]
    t_reference = time.perf_counter() - t0
    rate_e = agents * weeks / t_engine
    rate_r = agents * weeks / t_reference
    print(f"engine vs reference: {sum(DOCTORS):,} doctors + {PERSONS:,} persons, {weeks} weeks")
    print(
        f"  engine     {t_engine:8.3f} s  {rate_e:14,.0f} agent-steps/s  acts {engine.acts.sum():,}"
    )
    print(
        f"  reference  {t_reference:8.3f} s  {rate_r:14,.0f} agent-steps/s  "
        f"acts {reference.acts.sum():,}"
    )
    print(f"  speed-up   {rate_e / rate_r:8.0f}x")


if __name__ == "__main__":
    main()
