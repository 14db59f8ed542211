"""Reference implementation: the same rules with one ``mesa.Agent`` object per doctor and patient.

For small populations only (tests and benchmarks). It shares the rules (``model/rules.py``), the
weekly policy (``model/policy.py``), the region and platform agents and the synthetic population
with the vectorised engine, but does its bookkeeping the plain Mesa way: each doctor and each
patient is an object with its own ``step``, activated in random order, drawing its own random
numbers from ``model.rng``: one Poisson number of needs per tie and person, one decision per need,
one row per act. The engine's shortcuts (sorted awareness thresholds, counts per cell, capacity as
hypergeometric draws, distinct persons by the occupancy law; see ``docs/engine.md``) must
reproduce this model *in distribution*; tests check it in a quiet and in a high-volume regime.
"""

from __future__ import annotations

import datetime as dt

import mesa
import numpy as np

from . import rules
from .agents import ILE_DE_FRANCE, Doctolib, OtherPlatforms, RegionAgent, release_agent_ids
from .calendar import WEEKS_PER_YEAR, n_weeks_until
from .cohorts import launch_cohorts
from .cohorts import members as cohort_members
from .inputs import DOCTOR_TYPES, Inputs
from .model import TeleModel
from .params import Levers, Uncertainties
from .policy import lockdown_demand, week_policy
from .population import GP, SPECIALIST, Population, build_population, second_line

DT = 1.0 / WEEKS_PER_YEAR


class DoctorAgent(mesa.Agent):
    """One doctor: open or not, adopts video by the Bass hazard, bills acts up to a capacity."""

    def __init__(self, model: ReferenceModel, index: int):
        super().__init__(model)
        d = model.pop.doctors
        self.index = index
        self.region = int(d.region[index])
        self.kind = int(d.kind[index])
        self.age60 = bool(d.age60[index])
        self.open_u = float(d.open_u[index])
        self.effects = float(model.effects[index])
        self.client = bool(model.client[index])
        self.volume = float(d.volume[index])
        self.cell = self.region * len(DOCTOR_TYPES) + self.kind
        self.is_open = False
        self.adopted = False
        self.adopted_week = -1
        self.platform = -1
        self.platform_u = 1.0  # the draw of the platform choice, kept for a later switch
        self.billed = False
        self.paid = True  # False once a launch cohort's acts are no longer reimbursed

    @property
    def capacity(self) -> float:
        if not self.paid:
            return 0.0
        return float(np.ceil(self.model.policy.capacity_share * self.volume))

    def step(self) -> None:
        m = self.model
        if self.adopted or not self.is_open:
            return
        idx = np.array([self.index])
        doc_pull = float(np.asarray(m.platforms[0].pull(m.policy, m.pop.doctors, idx)).sum())
        other_pull = float(m.platforms[1].pull(m.policy, m.pop.doctors, idx))
        peer = m.peer_share[self.cell]
        multiplier = 1.0 + m.unc.subsidy_effect * m.policy.subsidy_eur / 1000.0
        external = rules.by_line(
            m.policy.external_multiplier,
            m.policy.second_line_external_multiplier,
            m.second_line[self.index],
        )
        hazard = float(
            rules.adoption_hazard(
                m.unc.p_external * external,
                doc_pull + other_pull,
                m.unc.q_imitation,
                peer,
                multiplier,
            )
        )
        if self.rng.random() < rules.weekly_probability(hazard):
            self.adopted = True
            self.adopted_week = m.week
            p_doc = float(rules.doctolib_choice_probability(doc_pull, other_pull))
            self.platform_u = self.rng.random()
            self.platform = 0 if self.platform_u < p_doc else 1

    def switch_to_doctolib(self) -> None:
        """A client on another platform chooses again when Doctolib starts serving more of its
        clients, with the draw of its adoption (as the vectorised engine)."""
        m = self.model
        if not self.adopted or self.platform != 1:
            return
        idx = np.array([self.index])
        doc_pull = float(np.asarray(m.platforms[0].pull(m.policy, m.pop.doctors, idx)).sum())
        other_pull = float(m.platforms[1].pull(m.policy, m.pop.doctors, idx))
        if self.platform_u < float(rules.doctolib_choice_probability(doc_pull, other_pull)):
            self.platform = 0


class PatientAgent(mesa.Agent):
    """One person (scale 1): their ties to doctors, and whether they have teleconsulted."""

    def __init__(
        self, model: ReferenceModel, index: int, ties: list[tuple[int, bool, bool, float]]
    ):
        super().__init__(model)
        p = model.pop.patients
        self.index = index
        self.region = int(p.region[index])
        self.age = int(p.age[index])
        self.exception = bool(p.under16[index] or not p.has_mt[index])
        self.desert = bool(p.desert[index])
        self.desert_u = float(p.desert_u[index])
        self.capable_u = float(p.capable_u[index])
        # each tie: (doctor, known, in pathway, awareness threshold)
        self.ties = ties
        # (doctor, known, in pathway, by video) of the first teleconsultation
        self.first_tie: tuple[int, bool, bool, bool] | None = None

    def _eligible(self, known: bool, pathway: bool) -> bool:
        """Whether one need may be billed: the rules (with their exceptions), else the waiver
        (drawn per need)."""
        pol = self.model.policy
        exception = self.exception or (
            self.desert and pol.desert_waiver > 0 and self.desert_u < pol.desert_waiver
        )
        known = known or (pol.known_waived_desert and self.desert)
        if rules.eligible(known, pathway, exception, pol.known_rule, pol.pathway_rule):
            return True
        return pol.rules_waiver > 0 and self.rng.random() < pol.rules_waiver

    def step(self) -> None:
        m = self.model
        pol, unc = m.policy, m.unc
        if not pol.reimbursed:
            return
        copay = 1.0 - pol.coverage
        logit = float(rules.choice_logit(unc, self.age, self.desert, copay, pol.choice_shift))
        need = m.pop.age_need[self.age] * pol.need_factor
        if self.first_tie is not None:  # a past user comes back to the same doctor
            doc, known, pathway, video = self.first_tie
            if not (video or pol.phone):  # a phone user, while audio-only acts are not paid
                return
            rate = m.need_rate(doc) * need * unc.repeat_need_ratio
            shift = 0.0 if video else unc.phone_choice
            for _ in range(self.rng.poisson(rate * DT)):
                p_rep = float(rules.logistic(logit + shift + np.log(unc.repeat_odds)))
                if self._eligible(known, pathway) and self.rng.random() < p_rep:
                    m.week_acts.append((doc, self, True, None))
            return
        video = self.capable_u < rules.capability_threshold(
            m.pop.capable_by_age[self.age], pol.capability_boost
        )
        if not (video or pol.phone):
            return
        shift = 0.0 if video else unc.phone_choice
        for doc, known, pathway, aware_u in self.ties:
            doctor = m.doctors[doc]
            if not doctor.adopted:
                continue
            rate = m.need_rate(doc) * need
            for _ in range(self.rng.poisson(rate * DT)):
                years = (m.week - doctor.adopted_week) * DT
                aware = aware_u < rules.awareness_probability(
                    m.regions[self.region].exposure, years, unc.awareness_doctor
                )
                p_new = float(rules.logistic(logit + shift))
                if aware and self._eligible(known, pathway) and self.rng.random() < p_new:
                    m.week_acts.append((doc, self, False, (doc, known, pathway, bool(video))))


class ReferenceModel(mesa.Model):
    """The plain one-object-per-agent version of :class:`model.model.TeleModel`.

    With ``scale`` > 1, each patient agent of the population (a cohort of ``scale`` identical
    persons in the engine) becomes ``scale`` person objects sharing its ties, attributes and
    thresholds, as the engine's cohorts do.
    """

    def __init__(
        self,
        inputs: Inputs,
        uncertainties: Uncertainties,
        levers: Levers,
        seed: int,
        end: dt.date,
        scale: int = 1,
    ):
        super().__init__(rng=seed)
        self.inputs = inputs
        self.pop: Population = build_population(inputs, scale, seed)
        self.unc, self.levers = uncertainties, levers
        self.n_weeks = n_weeks_until(end)
        self.week = 0
        self.policy = None
        self.demand = lockdown_demand(inputs, levers, uncertainties, self.n_weeks)
        d = self.pop.doctors
        self.effects = rules.openness_effects(uncertainties, d.age60, d.urban, d.group, d.kind)
        self.second_line = second_line(d.kind)
        codes = inputs.regions.region_code.to_numpy()
        is_idf = (codes == ILE_DE_FRANCE)[d.region]
        self.client = d.client_u < rules.logistic(
            rules.logit(inputs.constants["doctolib_client_share"])
            + uncertainties.doctolib_idf_odds * is_idf
        )
        self.regions = [
            RegionAgent(
                self,
                r,
                str(codes[r]),
                str(inputs.regions.region[r]),
                float(self.pop.persons_by_region[r]),
            )
            for r in range(inputs.n_regions)
        ]
        idf_rows = np.flatnonzero(codes == ILE_DE_FRANCE)
        self.platforms = [
            Doctolib(self, 0, "doctolib", "Doctolib", int(idf_rows[0]) if idf_rows.size else -1),
            OtherPlatforms(self, 1, "other", "Other platforms"),
        ]
        self.doctors = [DoctorAgent(self, j) for j in range(d.n)]
        self.patients = []
        for i, ties in enumerate(self._ties()):
            thresholds = [(doc, k, w, float(self.rng.random())) for doc, k, w in ties]
            self.patients += [PatientAgent(self, i, thresholds) for _ in range(scale)]
        self.peer_share = np.zeros(inputs.n_regions * len(DOCTOR_TYPES))
        self._doctolib_served = (False, False)  # whom Doctolib video served at the last switch
        self._cohorts = launch_cohorts(inputs, d.kind, d.region, self.client, levers, uncertainties)
        self._cohort_members: dict[str, np.ndarray] = {}
        self.week_acts: list = []
        TeleModel._alloc_outputs(self)  # the same weekly aggregates as the engine
        release_agent_ids(self)

    def _ties(self) -> list[list[tuple[int, bool, bool]]]:
        """Each person's ties (doctor, known, in pathway), read off the shared population."""
        d, p, links = self.pop.doctors, self.pop.patients, self.pop.links
        ties: list[list] = [[] for _ in range(p.n)]
        for j in range(d.n):
            a, n = int(d.pri_start[j]), int(d.pri_count[j])
            for i in range(a, a + n):
                ties[i].append((j, bool(p.known_mt[i]), True))
            a, n = int(d.sec_start[j]), int(d.sec_count[j])
            for link in range(a, a + n):
                i = int(links.patient[link])
                ties[i].append((j, bool(links.known[link]), bool(links.pathway[link])))
        return ties

    def need_rate(self, doc: int) -> float:
        """Yearly need rate of one person on a tie with ``doc`` (before the age factor), with the
        week's extra drop for second-line doctors."""
        d = self.pop.doctors
        rate = float(self.pop.gp_rate if d.pri_count[doc] > 0 else d.sec_rate[doc])
        if self.second_line[doc]:
            rate *= self.policy.second_line_need_factor
        return rate

    def run(self) -> ReferenceModel:
        while self.week < self.n_weeks:
            self.step()
        return self

    def step(self) -> None:
        k = self.week
        total = float(self.pop.persons_by_region.sum())
        self.policy = week_policy(
            k, self.levers, self.unc, self.inputs.events, self.inputs.constants, total, self.demand
        )
        shift = rules.by_line(
            self.policy.open_shift, self.policy.second_line_open_shift, self.second_line
        )
        open_p = rules.open_probability(self.policy.open_share, self.effects + shift)
        for doc in self.doctors:
            doc.is_open = doc.is_open or doc.open_u < open_p[doc.index]
        served = (self.policy.doctolib_first, self.policy.doctolib_all)
        if served != self._doctolib_served:
            self._doctolib_served = served
            self.agents_by_type[DoctorAgent].do("switch_to_doctolib")
        self._launch_cohorts(k)
        n_cells = self.peer_share.size
        n_open, n_adopted = np.zeros(n_cells), np.zeros(n_cells)
        for doc in self.doctors:
            n_open[doc.cell] += doc.is_open
            n_adopted[doc.cell] += doc.adopted
        self.peer_share = np.divide(n_adopted, n_open, out=np.zeros(n_cells), where=n_open > 0)
        self.agents_by_type[DoctorAgent].shuffle_do("step")
        self.week_acts = []
        self.agents_by_type[PatientAgent].shuffle_do("step")
        self._settle(k)
        for region in self.regions:
            region.step()
        self._record(k)
        self.week += 1

    def _launch_cohorts(self, k: int) -> None:
        """The launch cohorts of :mod:`model.cohorts`, as the engine: the same doctors adopt at
        once with the head start; a cohort whose acts stop being paid bills nothing after."""
        for c in self._cohorts:
            if c.start_week == k:
                adopted = np.array([doc.adopted for doc in self.doctors])
                chosen = cohort_members(c, adopted, self.pop.doctors.open_u)
                for j in chosen:
                    doc = self.doctors[j]
                    doc.is_open = doc.adopted = True
                    doc.adopted_week = k - round(self.unc.launch_awareness_weeks)
                    doc.platform = c.platform
                    doc.platform_u = self.rng.random()
                self._cohort_members[c.name] = chosen
            if c.billing_end_week == k:
                for j in self._cohort_members.get(c.name, ()):
                    self.doctors[j].paid = False

    def _settle(self, k: int) -> None:
        """Apply capacity (a random subset of a crowded doctor's acts is turned away), tally.

        The week's kept acts happen in a random order: a person's first kept teleconsultation
        of the week (with whichever doctor) sets their first tie.
        """
        by_doctor: dict[int, list] = {}
        for act in self.week_acts:
            by_doctor.setdefault(act[0], []).append(act)
        kept = []
        for doc, acts in by_doctor.items():
            order = self.rng.permutation(len(acts))
            kept += [acts[i] for i in order[: int(self.doctors[doc].capacity)]]
        liberal_billing = set()
        for i in self.rng.permutation(len(kept)):
            doc, patient, repeat, tie = kept[i]
            doctor = self.doctors[doc]
            doctor.billed = True
            if doctor.kind <= SPECIALIST:
                liberal_billing.add(doc)
            if self.on_mt_tie(doc, patient, repeat, tie):
                self.out_acts_own_mt[k] += 1
            self.out_acts_type[k, doctor.kind] += 1
            self.out_acts_region[k, doctor.region] += 1
            self.out_acts_platform[k, doctor.platform] += 1
            self.out_acts_age[k, patient.age] += 1
            if doctor.kind <= SPECIALIST and doctor.age60:
                self.out_acts_liberal_60[k] += 1
            if not repeat and patient.first_tie is None:
                patient.first_tie = tie
                self.out_new_age[k, patient.age] += 1
                self.out_new_phone[k] += not tie[3]
                self.regions[patient.region].users += 1.0
        self.out_billing_week_liberal[k] = len(liberal_billing)
        self.out_billing_week_gp[k] = sum(self.doctors[doc].kind == GP for doc in liberal_billing)

    def on_mt_tie(self, doc: int, patient: PatientAgent, repeat: bool, tie) -> bool:
        """Whether an act is on the patient's médecin-traitant tie (the doctor's own list)."""
        d = self.pop.doctors
        if repeat:
            doc, pathway = patient.first_tie[0], patient.first_tie[2]
        else:
            pathway = tie[2]
        return bool(d.pri_count[doc] > 0 and pathway)

    def _record(self, k: int) -> None:
        for doc in self.doctors:
            if doc.adopted:
                self.out_adopting_region[k, doc.region] += 1
                self.out_adopting_type[k, doc.kind] += 1
            self.out_billing_liberal[k] += doc.billed and doc.kind <= SPECIALIST
            self.out_open[k] += doc.is_open
        self.out_stringency[k] = self.policy.stringency
        persons = np.array([r.persons for r in self.regions])
        aware = np.array([r.aware_share for r in self.regions])
        self.out_aware[k] = float((persons * aware).sum() / persons.sum())


def simulate_reference(
    inputs: Inputs,
    uncertainties: Uncertainties,
    levers: Levers | None = None,
    seed: int = 0,
    end: str = "2021-12-31",
    scale: int = 1,
):
    """Run the reference model and return the same frames as :func:`model.simulate` (detail)."""
    from .calendar import parse_end
    from .simulate import frames

    model = ReferenceModel(inputs, uncertainties, levers or Levers(), seed, parse_end(end), scale)
    return frames(model.run())
