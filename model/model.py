"""The weekly téléconsultation model: one ``mesa.Model`` over vectorised doctors and patients.

One call to :meth:`TeleModel.step` is one week, read top to bottom:

1. *Policy*: resolve the levers and dated events into this week's :class:`WeekPolicy`.
2. *Platforms and doctors*: each open, non-adopting doctor accumulates the Bass hazard
   ``(p * platform pull + q * adopted share of open peers) * policy multiplier`` and adopts when it
   reaches their own Exp(1) clock (so the weekly adoption probability is ``1 - exp(-h dt)``).
3. *Patients*: needs arise on the lists of adopting doctors (Poisson, by age); a need becomes a
   reimbursed act if the pair is eligible, the patient is capable and aware, and chooses video;
   a doctor turns at most a bounded share of their activity into video.
4. *Regions*: awareness exposure grows with media, campaigns and word of mouth.

Only small aggregates are kept per week (by doctor type, region, platform, age band).
"""

from __future__ import annotations

import datetime as dt

import mesa
import numpy as np

from . import rules
from .agents import ILE_DE_FRANCE, Doctolib, OtherPlatforms, RegionAgent
from .calendar import WEEKS_PER_YEAR, n_weeks_until
from .inputs import AGE_BANDS, DOCTOR_TYPES, Inputs
from .params import Levers, Uncertainties
from .policy import WeekPolicy, week_policy
from .population import (
    GP,
    SPECIALIST,
    STREAM_USAGE,
    Population,
    stream,
)

PLATFORMS = ("doctolib", "other")


def prefix_below(values: np.ndarray, start: np.ndarray, count: np.ndarray, threshold) -> np.ndarray:
    """For sorted segments ``values[start:start+count]``, how many entries are below ``threshold``.

    A vectorised binary search over all segments at once (about log2(max count) passes).
    """
    lo = np.zeros(count.size, dtype=np.int64)
    hi = count.astype(np.int64).copy()
    threshold = np.broadcast_to(threshold, count.shape)
    active = lo < hi
    while active.any():
        mid = (lo + hi) // 2
        probe = values[np.where(active, start + mid, 0)]
        right = active & (probe < threshold)
        left = active & ~right
        lo[right] = mid[right] + 1
        hi[left] = mid[left]
        active = lo < hi
    return lo


DT = 1.0 / WEEKS_PER_YEAR


class TeleModel(mesa.Model):
    """Doctors and patients adopting téléconsultation, week by week from 15 Sep 2018."""

    def __init__(
        self,
        inputs: Inputs,
        population: Population,
        uncertainties: Uncertainties,
        levers: Levers,
        seed: int,
        end: dt.date,
    ):
        super().__init__(rng=seed)
        self.inputs = inputs
        self.pop = population
        self.unc = uncertainties
        self.levers = levers
        self.seed = int(seed)
        self.n_weeks = n_weeks_until(end)
        self.week = 0
        self.policy: WeekPolicy | None = None
        self._total_persons = float(population.persons_by_region.sum())

        doctors = population.doctors
        nd = doctors.n
        # run-time doctor state
        self.adopted = np.zeros(nd, dtype=bool)
        self.adopted_week = np.full(nd, -1, dtype=np.int32)
        self.platform = np.full(nd, -1, dtype=np.int8)
        self.billed = np.zeros(nd, dtype=bool)
        self._hazard = np.zeros(nd, dtype=np.float64)
        self._open = np.zeros(nd, dtype=bool)
        self._open_share = None
        self._effects = rules.openness_effects(
            uncertainties, doctors.age60, doctors.urban, doctors.group, doctors.kind
        )
        # Doctolib booking clients: the national share (sourced, derived), tilted towards
        # Île-de-France by an uncertainty; hospital doctors are never clients.
        reg_codes = inputs.regions.region_code.to_numpy()
        is_idf = (reg_codes == ILE_DE_FRANCE)[doctors.region]
        client_p = rules.logistic(
            rules.logit(inputs.constants["doctolib_client_share"])
            + uncertainties.doctolib_idf_odds * is_idf
        )
        self.client = doctors.client_u < client_p
        self._cell = doctors.region.astype(np.int64) * len(DOCTOR_TYPES) + doctors.kind
        self._n_cells = inputs.n_regions * len(DOCTOR_TYPES)
        self._adopted_cell = np.zeros(self._n_cells, dtype=np.int64)
        self._adopters: list[np.ndarray] = []
        # run-time patient state: persons of each agent who have ever teleconsulted
        users_t = np.uint16 if population.scale < 2**16 else np.uint32
        self.users = np.zeros(population.patients.n, dtype=users_t)

        reg = inputs.regions
        self.regions = [
            RegionAgent(
                self,
                r,
                str(reg.region_code[r]),
                str(reg.region[r]),
                float(population.persons_by_region[r]),
            )
            for r in range(inputs.n_regions)
        ]
        idf_rows = np.flatnonzero(reg.region_code.to_numpy() == ILE_DE_FRANCE)
        idf = int(idf_rows[0]) if idf_rows.size else -1
        self.platforms = [
            Doctolib(self, 0, "doctolib", "Doctolib", idf_index=idf),
            OtherPlatforms(self, 1, "other", "Other platforms"),
        ]
        self._alloc_outputs()

    # ------------------------------------------------------------------------------------------
    def _alloc_outputs(self) -> None:
        w, nr = self.n_weeks, self.inputs.n_regions
        self.out_acts_type = np.zeros((w, len(DOCTOR_TYPES)), dtype=np.int64)
        self.out_acts_region = np.zeros((w, nr), dtype=np.int64)
        self.out_acts_platform = np.zeros((w, len(PLATFORMS)), dtype=np.int64)
        self.out_acts_age = np.zeros((w, len(AGE_BANDS)), dtype=np.int64)
        self.out_new_age = np.zeros((w, len(AGE_BANDS)), dtype=np.int64)
        self.out_adopting_region = np.zeros((w, nr), dtype=np.int64)
        self.out_adopting_type = np.zeros((w, len(DOCTOR_TYPES)), dtype=np.int64)
        self.out_billing_liberal = np.zeros(w, dtype=np.int64)
        self.out_acts_liberal_60 = np.zeros(w, dtype=np.int64)
        self.out_open = np.zeros(w, dtype=np.int64)
        self.out_aware = np.zeros(w, dtype=np.float64)

    def run(self) -> TeleModel:
        """Step through every week of the run."""
        while self.week < self.n_weeks:
            self.step()
        return self

    def step(self) -> None:
        """Advance one week (see the module docstring for the order)."""
        k = self.week
        self.policy = week_policy(
            k,
            self.levers,
            self.unc,
            self.inputs.events,
            self.inputs.constants,
            self._total_persons,
        )
        self._doctor_adoption(k, self.policy)
        self._usage(k, self.policy)
        for region in self.regions:
            region.step()
        self._record(k)
        self.week += 1

    # --- doctors ------------------------------------------------------------------------------
    def _update_openness(self, share: float) -> None:
        """Recompute who is open when the reference openness changes (it only ever rises)."""
        if share == self._open_share:
            return
        d = self.pop.doctors
        self._open |= d.open_u < rules.open_probability(share, self._effects)
        self._open_share = share
        self._open_cell = np.bincount(self._cell[self._open], minlength=self._n_cells)

    def _doctor_adoption(self, k: int, pol: WeekPolicy) -> None:
        self._update_openness(pol.open_share)
        d, unc = self.pop.doctors, self.unc
        idx = np.flatnonzero(self._open & ~self.adopted)
        if idx.size == 0:
            return
        doc_pull = self.platforms[0].pull(pol, d, idx)
        other_pull = self.platforms[1].pull(pol, d, idx)
        pull = (np.asarray(doc_pull, dtype=float) + other_pull) * np.ones(idx.size)
        peer = np.divide(
            self._adopted_cell,
            self._open_cell,
            out=np.zeros(self._n_cells),
            where=self._open_cell > 0,
        )[self._cell[idx]]
        multiplier = 1.0 + unc.subsidy_effect * pol.subsidy_eur / 1000.0
        hazard = rules.adoption_hazard(
            unc.p_external * pol.external_multiplier, pull, unc.q_imitation, peer, multiplier
        )
        self._hazard[idx] += hazard * DT
        hit = self._hazard[idx] >= d.clock[idx]
        new = idx[hit]
        if new.size == 0:
            return
        p_doc = rules.doctolib_choice_probability(
            np.broadcast_to(doc_pull, idx.shape)[hit], other_pull
        )
        self.platform[new] = np.where(d.platform_u[new] < p_doc, 0, 1)
        self.adopted[new] = True
        self.adopted_week[new] = k
        self._adopted_cell += np.bincount(self._cell[new], minlength=self._n_cells)
        self._adopters.append(new)

    # --- patients -----------------------------------------------------------------------------
    def _usage(self, k: int, pol: WeekPolicy) -> None:
        if not pol.reimbursed or not self._adopters:
            return
        pop, unc = self.pop, self.unc
        d, p, links = pop.doctors, pop.patients, pop.links
        s = pop.scale
        adopters = np.concatenate(self._adopters)
        rng = stream(self.seed, STREAM_USAGE, k)

        # 1. Who knows this doctor offers video: every tie of a doctor shares the same awareness
        #    probability (same region, same doctor), and thresholds are sorted within each
        #    doctor's list, so the aware ties are a prefix found by binary search.
        exposure = np.array([r.exposure for r in self.regions])
        years = (k - self.adopted_week[adopters]) * DT
        aware = rules.awareness_probability(
            exposure[d.region[adopters]], years, unc.awareness_doctor
        )
        n_pri = prefix_below(p.aware_u, d.pri_start[adopters], d.pri_count[adopters], aware)
        n_sec = prefix_below(links.aware_u, d.sec_start[adopters], d.sec_count[adopters], aware)

        # 2. Needs of aware persons, drawn at an upper bound of the rest of the conversion
        #    probability and thinned below (exact Poisson thinning): the cost grows with likely
        #    acts, not with list sizes.
        copay = 1.0 - pol.coverage
        top_age = max(0.0, unc.choice_age * (len(AGE_BANDS) - 1))
        l_max = (
            unc.choice_logit
            + top_age
            + max(0.0, unc.choice_desert)
            - unc.choice_copay * copay
            + pol.choice_shift
        )
        choose_max = float(rules.logistic(l_max + np.log(unc.repeat_odds)))
        age_max = float(pop.age_need.max())
        base = s * DT * age_max * choose_max
        k_pri = rng.poisson(base * pop.gp_rate * n_pri)
        k_sec = rng.poisson(base * d.sec_rate[adopters] * n_sec)
        doc_pri = np.repeat(adopters, k_pri)
        doc_sec = np.repeat(adopters, k_sec)
        pat_pri = d.pri_start[doc_pri] + (
            rng.random(doc_pri.size) * np.repeat(n_pri, k_pri)
        ).astype(np.int64)
        link = d.sec_start[doc_sec] + (rng.random(doc_sec.size) * np.repeat(n_sec, k_sec)).astype(
            np.int64
        )
        doc = np.concatenate([doc_pri, doc_sec])
        pat = np.concatenate([pat_pri, links.patient[link].astype(np.int64)])
        n = doc.size
        if n == 0:
            return
        u_take, u_new = rng.random(n), rng.random(n)
        is_pri = np.arange(n) < doc_pri.size
        tie = np.concatenate([pat_pri, link])  # patient index for MT ties, link index otherwise

        # 3. Age: needs arise in proportion to the age band's consultation rate (thinning).
        age = p.age[pat]
        age_ratio = pop.age_need[age] / age_max
        sel = np.flatnonzero(u_take < age_ratio)
        doc, pat, age, is_pri, tie = doc[sel], pat[sel], age[sel], is_pri[sel], tie[sel]
        u_take, u_new, age_ratio = u_take[sel], u_new[sel], age_ratio[sel]

        # 4. Eligibility (rules and their exceptions) and capability: all-or-nothing per tie.
        tie_link = np.where(is_pri, 0, tie)
        known = np.where(is_pri, p.known_mt[pat], links.known[tie_link])
        pathway = is_pri | links.pathway[tie_link]
        exception = p.under16[pat] | ~p.has_mt[pat]
        desert = p.desert[pat]
        if pol.desert_waiver > 0:
            exception |= desert & (p.desert_u[pat] < pol.desert_waiver)
        ok = rules.eligible(known, pathway, exception, pol.known_rule, pol.pathway_rule)
        ok &= p.capable_u[pat] < rules.capability_threshold(
            pop.capable_by_age[age], pol.capability_boost
        )
        sel = np.flatnonzero(ok)
        doc, pat, age, desert = doc[sel], pat[sel], age[sel], desert[sel]
        u_take, u_new, age_ratio = u_take[sel], u_new[sel], age_ratio[sel]

        # 5. Choice: first-time or repeat user of the cohort.
        logit_new = rules.choice_logit(unc, age, desert, copay, pol.choice_shift)
        users_share = self.users[pat] / s
        choose = rules.choice_probability(logit_new, users_share, unc.repeat_odds)
        sel = np.flatnonzero(u_take < age_ratio * choose / choose_max)
        if sel.size == 0:
            return
        doc, pat, age = doc[sel], pat[sel], age[sel]
        u_new, logit_new, users_share, choose = (
            u_new[sel],
            logit_new[sel],
            users_share[sel],
            choose[sel],
        )

        # 6. Capacity: a doctor bills at most ceil(max_video_share * weekly volume) acts a week.
        order = np.argsort(doc, kind="stable")
        first = np.searchsorted(doc[order], doc[order], side="left")
        rank = np.empty(doc.size, dtype=np.int64)
        rank[order] = np.arange(doc.size) - first
        sel = np.flatnonzero(rank < np.ceil(unc.max_video_share * d.volume[doc]))
        doc, pat, age = doc[sel], pat[sel], age[sel]
        u_new, logit_new, users_share, choose = (
            u_new[sel],
            logit_new[sel],
            users_share[sel],
            choose[sel],
        )

        # 7. First-time users: the person was new with probability (1-f) p_new / p.
        p_new = rules.logistic(logit_new)
        new_share = np.divide(
            (1 - users_share) * p_new, choose, out=np.zeros(choose.size), where=choose > 0
        )
        cohorts, firsts = np.unique(pat[u_new < new_share], return_counts=True)
        before = self.users[cohorts].astype(np.int64)
        after = np.minimum(before + firsts, s)  # a cohort has only ``scale`` persons
        self.users[cohorts] = after
        gained = after - before

        kind, region = d.kind[doc], d.region[doc]
        self.billed[doc] = True
        self.out_acts_type[k] = np.bincount(kind, minlength=len(DOCTOR_TYPES))
        self.out_acts_region[k] = np.bincount(region, minlength=len(self.regions))
        self.out_acts_platform[k] = np.bincount(self.platform[doc], minlength=len(PLATFORMS))
        self.out_acts_age[k] = np.bincount(age, minlength=len(AGE_BANDS))
        self.out_new_age[k] = np.bincount(
            p.age[cohorts], weights=gained, minlength=len(AGE_BANDS)
        ).astype(np.int64)
        liberal = kind <= SPECIALIST
        self.out_acts_liberal_60[k] = int(np.count_nonzero(liberal & d.age60[doc]))
        users_by_region = np.bincount(
            p.region[cohorts], weights=gained, minlength=len(self.regions)
        )
        for region_agent, gained_r in zip(self.regions, users_by_region, strict=True):
            region_agent.users += float(gained_r)

    # --- bookkeeping --------------------------------------------------------------------------
    def _record(self, k: int) -> None:
        d = self.pop.doctors
        self.out_adopting_region[k] = np.bincount(
            d.region[self.adopted], minlength=len(self.regions)
        )
        self.out_adopting_type[k] = np.bincount(d.kind[self.adopted], minlength=len(DOCTOR_TYPES))
        self.out_billing_liberal[k] = int(np.count_nonzero(self.billed & (d.kind <= SPECIALIST)))
        self.out_open[k] = int(np.count_nonzero(self._open))
        persons = np.array([r.persons for r in self.regions])
        aware = np.array([r.aware_share for r in self.regions])
        self.out_aware[k] = float((persons * aware).sum() / persons.sum())

    @property
    def adopting_doctors(self) -> int:
        """Doctors who have adopted video so far (a reporter name, as in Mesa's examples)."""
        return int(self.adopted.sum())

    @property
    def patients_ever(self) -> int:
        """Persons who have teleconsulted at least once so far."""
        return int(self.users.sum(dtype=np.int64))


__all__ = ["TeleModel", "PLATFORMS", "GP"]
