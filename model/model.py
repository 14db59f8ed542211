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
DT = 1.0 / WEEKS_PER_YEAR


def aware_prefix(key, docs, start, count, threshold) -> np.ndarray:
    """How many ties of each doctor in ``docs`` have an awareness threshold below ``threshold``.

    ``key`` holds doctor index + threshold, sorted along the array with each doctor's ties in
    one slice, so a single vectorised search answers for every doctor at once.
    """
    pos = np.searchsorted(key, docs + np.asarray(threshold, dtype=np.float64), side="left")
    return np.clip(pos - start[docs], 0, count[docs])


def _rank_within(keys: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Position of each element among equal keys (0 for the first), in a random order if rng."""
    if rng is None:
        order = np.argsort(keys, kind="stable")
    else:
        order = np.lexsort((rng.random(keys.size), keys))
    sorted_keys = keys[order]
    rank = np.empty(keys.size, dtype=np.int64)
    rank[order] = np.arange(keys.size) - np.searchsorted(sorted_keys, sorted_keys, side="left")
    return rank


class RepeatUsers:
    """Past users, counted by (doctor of their first teleconsultation, age band, rule class).

    A person who has teleconsulted comes back with the doctor of their first teleconsultation.
    Repeat acts are then drawn as Poisson counts per cell (the brief's "sampling counts"), so
    their cost grows with the number of occupied cells, not with the number of acts. The class
    packs what eligibility needs: known to the doctor, inside the pathway, a standing exception
    (under 16, no médecin traitant), waivable by the under-served-area lever, living there.
    """

    N_CLASSES = 32
    N_AGES = 5

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)  # sorted cell keys
        self.counts = np.zeros(0, dtype=np.int64)

    @classmethod
    def key(cls, doc, age, known, pathway, exception, waivable, desert) -> np.ndarray:
        klass = (
            known.astype(np.int64)
            | (pathway.astype(np.int64) << 1)
            | (exception.astype(np.int64) << 2)
            | (waivable.astype(np.int64) << 3)
            | (desert.astype(np.int64) << 4)
        )
        return (doc.astype(np.int64) * cls.N_AGES + age) * cls.N_CLASSES + klass

    def add(self, keys: np.ndarray) -> None:
        if keys.size == 0:
            return
        new, n = np.unique(keys, return_counts=True)
        pos = np.searchsorted(self.keys, new)
        found = pos < self.keys.size
        found[found] = self.keys[pos[found]] == new[found]
        self.counts[pos[found]] += n[found]
        fresh = ~found
        self.keys = np.insert(self.keys, pos[fresh], new[fresh])
        self.counts = np.insert(self.counts, pos[fresh], n[fresh])

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Doctor, age band and class of every occupied cell."""
        klass = self.keys % self.N_CLASSES
        rest = self.keys // self.N_CLASSES
        return rest // self.N_AGES, rest % self.N_AGES, klass


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
        self._adopters = np.zeros(0, dtype=np.int64)  # sorted: cache-friendly lookups
        self._capacity = np.ceil(uncertainties.max_video_share * doctors.volume)
        self._repeat = RepeatUsers()
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
        self._adopters = np.union1d(self._adopters, new)

    # --- patients -----------------------------------------------------------------------------
    def _usage(self, k: int, pol: WeekPolicy) -> None:
        """Needs on adopting doctors' lists become acts: first uses, then repeat uses."""
        if not pol.reimbursed or self._adopters.size == 0:
            return
        rng = stream(self.seed, STREAM_USAGE, k)
        copay = 1.0 - pol.coverage
        top_age = max(0.0, self.unc.choice_age * (len(AGE_BANDS) - 1))
        l_max = (
            self.unc.choice_logit
            + top_age
            + max(0.0, self.unc.choice_desert)
            - self.unc.choice_copay * copay
            + pol.choice_shift
        )
        fdoc, fpat, fage = self._first_uses(k, pol, rng, copay, l_max)
        rdoc, rage, rcount = self._repeat_uses(pol, rng, copay, l_max)
        if fdoc.size == 0 and rdoc.size == 0:
            return

        # Capacity: a doctor bills at most ceil(max_video_share * weekly volume) acts a week;
        # the ones turned away are a random subset of that doctor's acts.
        d, p, s = self.pop.doctors, self.pop.patients, self.pop.scale
        per_doc = np.bincount(fdoc, minlength=d.n) + np.bincount(
            rdoc, weights=rcount, minlength=d.n
        ).astype(np.int64)
        crowded = np.flatnonzero(per_doc > self._capacity)
        keep_first = np.ones(fdoc.size, dtype=bool)
        if crowded.size:
            # expand the crowded doctors' acts one row each, rank them at random, keep the cap
            fsel = np.flatnonzero(np.isin(fdoc, crowded))
            rsel = np.flatnonzero(np.isin(rdoc, crowded))
            rows_doc = np.concatenate([fdoc[fsel], np.repeat(rdoc[rsel], rcount[rsel])])
            rows_src = np.concatenate([fsel, -1 - np.repeat(rsel, rcount[rsel])])
            kept = _rank_within(rows_doc, rng) < self._capacity[rows_doc]
            keep_first[fsel] = kept[: fsel.size]
            kept_rep = np.bincount(
                -1 - rows_src[fsel.size :][kept[fsel.size :]], minlength=rdoc.size
            )
            rcount = rcount.copy()
            rcount[rsel] = kept_rep[rsel]
        fknown, fpath = self._first_ties[0][keep_first], self._first_ties[1][keep_first]
        fdoc, fpat, fage = fdoc[keep_first], fpat[keep_first], fage[keep_first]
        doc = np.concatenate([fdoc, rdoc])
        age = np.concatenate([fage, rage])
        weight = np.concatenate([np.ones(fdoc.size, np.int64), rcount])

        # First uses make new users (a cohort has only ``scale`` persons); each new user can
        # come back, with the doctor of their first teleconsultation.
        cohorts, firsts = np.unique(fpat, return_counts=True)
        if np.any(self.users[cohorts].astype(np.int64) + firsts > s):  # a cohort runs out
            real = self.users[fpat].astype(np.int64) + _rank_within(fpat) < s
        else:
            real = np.ones(fpat.size, dtype=bool)
        after = np.minimum(self.users[cohorts].astype(np.int64) + firsts, s)
        gained = after - self.users[cohorts]
        self.users[cohorts] = after
        new_doc, fpat = fdoc[real], fpat[real]
        waivable = p.desert[fpat] & (p.desert_u[fpat] < self.levers.target_deserts)
        self._repeat.add(
            RepeatUsers.key(
                new_doc,
                p.age[fpat],
                fknown[real],
                fpath[real],
                p.under16[fpat] | ~p.has_mt[fpat],
                waivable,
                p.desert[fpat],
            )
        )

        kind, region = d.kind[doc], d.region[doc]
        self.billed[doc[weight > 0]] = True

        def tally(keys, size):
            return np.bincount(keys, weights=weight, minlength=size).astype(np.int64)

        self.out_acts_type[k] = tally(kind, len(DOCTOR_TYPES))
        self.out_acts_region[k] = tally(region, len(self.regions))
        self.out_acts_platform[k] = tally(self.platform[doc], len(PLATFORMS))
        self.out_acts_age[k] = tally(age, len(AGE_BANDS))
        self.out_new_age[k] = np.bincount(
            p.age[cohorts], weights=gained, minlength=len(AGE_BANDS)
        ).astype(np.int64)
        liberal = kind <= SPECIALIST
        self.out_acts_liberal_60[k] = int(weight[liberal & d.age60[doc]].sum())
        users_by_region = np.bincount(
            p.region[cohorts], weights=gained, minlength=len(self.regions)
        )
        for region_agent, gained_r in zip(self.regions, users_by_region, strict=True):
            region_agent.users += float(gained_r)

    def _need_rate(self, doc: np.ndarray) -> np.ndarray:
        """Yearly need rate of one person on a tie with ``doc`` (before the age factor)."""
        d = self.pop.doctors
        return np.where(d.pri_count[doc] > 0, self.pop.gp_rate, d.sec_rate[doc])

    def _first_uses(self, k, pol, rng, copay, l_max):
        """Needs of persons who never teleconsulted, on the ties of adopting doctors."""
        pop, unc = self.pop, self.unc
        d, p, links = pop.doctors, pop.patients, pop.links
        s = pop.scale
        adopters = self._adopters
        empty = (np.zeros(0, np.int64),) * 3
        self._first_ties = (np.zeros(0, bool), np.zeros(0, bool))

        # 1. Who knows this doctor offers video: every tie of a doctor shares the same awareness
        #    probability (same region, same doctor), and thresholds are sorted within each
        #    doctor's list, so the aware ties are a prefix found by binary search.
        exposure = np.array([r.exposure for r in self.regions])
        years = (k - self.adopted_week[adopters]) * DT
        aware = rules.awareness_probability(
            exposure[d.region[adopters]], years, unc.awareness_doctor
        )
        n_pri = aware_prefix(p.aware_key, adopters, d.pri_start, d.pri_count, aware)
        n_sec = aware_prefix(links.aware_key, adopters, d.sec_start, d.sec_count, aware)

        # 2. Needs of aware persons, drawn at an upper bound of the rest of the conversion
        #    probability and thinned below (exact Poisson thinning): the cost grows with likely
        #    acts, not with list sizes.
        choose_max = float(rules.logistic(l_max))
        age_max = float(pop.age_need.max())
        base = s * DT * age_max * choose_max
        k_pri = rng.poisson(base * pop.gp_rate * n_pri)
        k_sec = rng.poisson(base * d.sec_rate[adopters] * n_sec)
        n1, n2 = int(k_pri.sum()), int(k_sec.sum())
        if n1 + n2 == 0:
            return empty
        # MT-list needs (the list is a slice of patients) and link needs, drawn separately
        doc_p = np.repeat(adopters, k_pri)
        pat_p = d.pri_start[doc_p] + (
            rng.random(n1, dtype=np.float32) * np.repeat(n_pri, k_pri)
        ).astype(np.int64)
        doc_s = np.repeat(adopters, k_sec)
        link_s = d.sec_start[doc_s] + (
            rng.random(n2, dtype=np.float32) * np.repeat(n_sec, k_sec)
        ).astype(np.int64)
        pat_s = links.patient[link_s]

        # 3. Age: needs arise in proportion to the age band's consultation rate (thinning).
        u_p = rng.random(n1, dtype=np.float32)
        u_s = rng.random(n2, dtype=np.float32)
        need_ratio = pop.age_need / age_max
        keep_p = np.flatnonzero(u_p < need_ratio[p.age[pat_p]])
        keep_s = np.flatnonzero(u_s < need_ratio[p.age[pat_s]])
        link = link_s[keep_s]
        doc = np.concatenate([doc_p[keep_p], doc_s[keep_s]])
        pat = np.concatenate([pat_p[keep_p], pat_s[keep_s]])
        known = np.concatenate([p.known_mt[pat_p[keep_p]], links.known[link]])
        pathway = np.concatenate([np.ones(keep_p.size, bool), links.pathway[link]])
        u_take = np.concatenate([u_p[keep_p], u_s[keep_s]])
        age = p.age[pat]
        ratio = need_ratio[age]

        # 4. Eligibility (rules and their exceptions) and capability: all-or-nothing per tie.
        desert = p.desert[pat]
        ok = self._eligible(pol, pat, known, pathway, desert)
        ok &= p.capable_u[pat] < rules.capability_threshold(
            pop.capable_by_age[age], pol.capability_boost
        )
        sel = np.flatnonzero(ok)
        doc, pat, age, desert, known, pathway = (
            doc[sel],
            pat[sel],
            age[sel],
            desert[sel],
            known[sel],
            pathway[sel],
        )
        u_take, ratio = u_take[sel], ratio[sel]

        # 5. Choice, for a person of the cohort who is not a user yet.
        p_new = rules.logistic(rules.choice_logit(unc, age, desert, copay, pol.choice_shift))
        not_user = 1.0 - self.users[pat] / s
        sel = np.flatnonzero(u_take < ratio * not_user * p_new / choose_max)
        self._first_ties = (known[sel], pathway[sel])
        return doc[sel], pat[sel], age[sel]

    def _repeat_uses(self, pol, rng, copay, l_max):
        """Repeat acts of past users, as Poisson counts per cell: (doctor, age band, count)."""
        rep, unc, pop = self._repeat, self.unc, self.pop
        if rep.keys.size == 0:
            return (np.zeros(0, np.int64),) * 3
        doc, age, klass = rep.cells()
        # eligibility of each class this week, and the repeat choice by age band and desert
        c = np.arange(RepeatUsers.N_CLASSES)
        exception = (c & 4) > 0
        if pol.desert_waiver > 0:
            exception |= (c & 8) > 0
        ok = rules.eligible((c & 1) > 0, (c & 2) > 0, exception, pol.known_rule, pol.pathway_rule)
        ages = np.arange(RepeatUsers.N_AGES)
        choose = np.stack(
            [
                rules.logistic(
                    rules.choice_logit(unc, ages, desert, copay, pol.choice_shift)
                    + np.log(unc.repeat_odds)
                )
                for desert in (0.0, 1.0)
            ]
        )  # (desert, age)
        rate = (
            np.where(pop.doctors.pri_count[doc] > 0, pop.gp_rate, pop.doctors.sec_rate[doc])
            * pop.age_need[age]
        )
        lam = rep.counts * DT * rate * choose[(klass >> 4) & 1, age] * ok[klass]
        n = rng.poisson(lam)
        hit = np.flatnonzero(n)
        return doc[hit], age[hit], n[hit]

    def _eligible(self, pol, pat, known, pathway, desert):
        p = self.pop.patients
        exception = p.under16[pat] | ~p.has_mt[pat]
        if pol.desert_waiver > 0:
            exception |= desert & (p.desert_u[pat] < pol.desert_waiver)
        return rules.eligible(known, pathway, exception, pol.known_rule, pol.pathway_rule)

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
