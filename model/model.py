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

How the patients' step is drawn (``docs/engine.md`` has the derivations). Nothing is drawn per
need or kept per act; every draw is a count:

* **Cells.** When a doctor adopts, their ties (their médecin-traitant list and their other links)
  are laid out once in *cells*: one cell per (doctor, age band, rule class), where the class packs
  what eligibility needs (known to the doctor, in the pathway, a standing exception, waivable by
  the under-served-area lever, living there). Inside a cell, ties keep the order of their
  awareness thresholds, so the aware ties of a cell are always its first ones. A cell keeps the
  patient agents of its aware, capable ties in a *live list* and the number ``W`` of their
  persons who never teleconsulted. Awareness and capability only ever grow, so ties only join
  live lists; a person's first teleconsultation lowers ``W`` in every cell the person is in
  (through an index of each patient's ties), and agents left without non-users are dropped.
* **First uses.** A cell's first uses have the Poisson mean
  ``rate(doctor) * dt * need(age) * p_new(age, desert) * eligible(class) * W`` (the sum of the
  independent Poisson needs of its persons, per person and tie, as in the reference model). A
  doctor's first uses are one Poisson count with the sum of its cells' means; once capacity is
  applied, each kept one falls in a cell with probability proportional to the cell's mean.
* **Repeat uses** are one Poisson count per (doctor, age band) over the persons whose first
  teleconsultation was with that doctor.
* **Capacity**: a doctor with more acts than ``ceil(max_video_share * volume)`` keeps a uniformly
  random subset of that size: hypergeometric between first and repeat uses, multivariate
  hypergeometric over the repeat uses' age bands.
* **Who.** A cell's kept first uses go to its live patient agents in proportion to their
  non-users (rejection from the live list, or a multinomial over it when that is cheaper). The
  distinct persons among an agent's ``K`` acts (``n`` non-users) follow the occupancy law of ``K``
  uniform draws among ``n``; the new users' first ties (the cells of their first act of the week)
  are a uniform subset of the agent's acts (hypergeometric).

All of this is exact in distribution with respect to the per-person, per-tie, per-act reference
(``model/reference.py``). A week costs a pass over the cells of adopting doctors plus work that
grows with the doctors, the kept first uses and the agents gaining users, not with all acts;
arrays that live through a run are allocated when the model is built (the per-cell ones double as
doctors adopt).
"""

from __future__ import annotations

import datetime as dt

import mesa
import numpy as np

from . import mesa_api, rules
from .agents import ILE_DE_FRANCE, Doctolib, OtherPlatforms, RegionAgent, release_agent_ids
from .calendar import WEEKS_PER_YEAR, n_weeks_until
from .cohorts import launch_cohorts
from .cohorts import members as cohort_members
from .inputs import AGE_BANDS, DOCTOR_TYPES, Inputs
from .params import Levers, Uncertainties
from .policy import WeekPolicy, lockdown_demand, week_policy
from .population import (
    GP,
    SPECIALIST,
    STREAM_USAGE,
    Population,
    second_line,
    stream,
)

PLATFORMS = ("doctolib", "other")
DT = 1.0 / WEEKS_PER_YEAR
N_AGES = len(AGE_BANDS)
#: Rule classes: bit 0 known to the doctor, 1 in the pathway, 2 standing exception (under 16, no
#: médecin traitant), 3 waivable by the under-served-area lever, 4 lives in an under-served area.
N_CLASSES = 32
#: A cell key is ``age band * N_CLASSES + class``.
N_KEYS = N_AGES * N_CLASSES
#: Scans over all patient agents go this many at a time (bounded temporary arrays).
CHUNK = 1 << 20
#: Spreading a cell's first uses over its live list: a binomial draw per listed agent costs
#: about this many rejection draws.
SCAN_COST = 6


# --- vectorised helpers -------------------------------------------------------------------------


def expand(starts, counts, rows: bool = True):
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` and (if ``rows``)
    each element's row in ``starts``, without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    offset = np.cumsum(counts) - counts
    idx = np.repeat(np.asarray(starts, dtype=np.int64) - offset, counts)
    idx += np.arange(idx.size)
    if not rows:
        return idx
    return idx, np.repeat(np.arange(counts.size), counts)


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``argsort(keys, kind="stable")`` for non-negative keys below 2**31, as one sort of keys and
    positions packed in 64 bits (several times faster)."""
    packed = (keys.astype(np.int64) << 32) | np.arange(keys.size, dtype=np.int64)
    packed.sort()
    return packed & 0xFFFFFFFF


def run_starts(labels: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal consecutive labels."""
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], labels[1:] != labels[:-1]]))


def _rank_batches(labels: np.ndarray):
    """For rows grouped in runs of equal labels: each row's run, whether it is the run's last
    row, and rank by rank (0 = first row of each run) the rows of that rank. One vectorised step
    per rank, not per row."""
    start = run_starts(labels)
    sizes = np.diff(np.append(start, labels.size))
    run = np.repeat(np.arange(start.size), sizes)
    rank = np.arange(labels.size) - start[run]
    last = rank == sizes[run] - 1
    rank_t = np.int16 if sizes.max() < 2**15 else np.int64  # 16 bits: a radix sort
    order = np.argsort(rank.astype(rank_t), kind="stable")
    bounds = np.cumsum(np.bincount(rank))
    lows = np.append(0, bounds[:-1])
    return start, run, last, [order[lo:hi] for lo, hi in zip(lows, bounds, strict=True)]


#: Univariate hypergeometric draws with at most this many items on the smaller side are drawn
#: item by item from uniforms (cheaper than the library's general algorithm for small counts).
SMALL_SAMPLE = 4


def hypergeometric(rng, good, total, sample) -> np.ndarray:
    """Number of ``sample`` designated items among a uniform random subset of size ``good`` of
    ``total`` items (the hypergeometric law, symmetric in ``good`` and ``sample``)."""
    big = np.maximum(good, sample)
    small = np.minimum(good, sample)
    x = np.zeros(small.size, dtype=np.int64)
    few = small <= SMALL_SAMPLE
    many = np.flatnonzero(~few)
    if many.size:
        x[many] = rng.hypergeometric(big[many], total[many] - big[many], small[many])
    # item by item: the j-th designated item is in the subset with probability
    # (subset places left) / (items left)
    rows = np.flatnonzero(few & (small > 0))
    for j in range(SMALL_SAMPLE):
        rows = rows[small[rows] > j]
        if rows.size == 0:
            break
        x[rows] += rng.random(rows.size) * (total[rows] - j) < big[rows] - x[rows]
    return x


def _split_runs(rng, counts, labels, n, draw) -> np.ndarray:
    """Share ``n`` (read at each run's first row) over the rows of each run of equal ``labels``,
    row by row: ``draw(rng, count, count left in the run, n left)`` gives a row's share, and a
    run's last row takes what is left. One vectorised step per rank of a row in its run."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(counts.size, dtype=np.int64)
    if counts.size == 0:
        return out
    start, run, last, batches = _rank_batches(labels)
    left = np.add.reduceat(counts, start)
    want = np.asarray(n, dtype=np.int64)[start].copy()
    for rows in batches:
        r = run[rows]
        c, w = counts[rows], want[r]
        x = np.where(last[rows], w, 0)
        pick = np.flatnonzero(~last[rows] & (w > 0) & (c > 0))
        if pick.size:
            x[pick] = draw(rng, c[pick], left[r[pick]], w[pick])
        out[rows] = x
        left[r] -= c
        want[r] -= x
    return out


def split_hypergeometric(rng, counts, labels, nsample) -> np.ndarray:
    """Keep ``nsample`` items per run of equal ``labels``, uniformly without replacement.

    Row ``i`` holds ``counts[i]`` items; rows of a run are consecutive and ``nsample`` is read at
    the run's first row. A multivariate hypergeometric draw per run, as a sequence of univariate
    ones (exact), vectorised over the runs.
    """
    return _split_runs(rng, counts, labels, nsample, hypergeometric)


def keep_columns(rng, table: np.ndarray, nsample: np.ndarray) -> np.ndarray:
    """Keep ``nsample[j]`` of the items of column ``j`` of a (categories, columns) count table,
    uniformly without replacement: a multivariate hypergeometric draw per column, as one
    univariate draw per category (exact), vectorised over the columns."""
    kept = np.zeros_like(table)
    left = table.sum(axis=0)
    want = np.asarray(nsample, dtype=np.int64).copy()
    for i in range(table.shape[0] - 1):
        c = table[i]
        x = np.where(c >= left, want, 0)  # the category holds all that is left
        draw = np.flatnonzero((c > 0) & (want > 0) & (c < left))
        x[draw] = hypergeometric(rng, c[draw], left[draw], want[draw])
        kept[i] = x
        left -= c
        want -= x
    kept[-1] = want
    return kept


def _binomial_share(rng, weight, weight_left, n_left):
    return rng.binomial(n_left, np.minimum(weight / weight_left, 1.0))


def split_multinomial(rng, weights, labels, n) -> np.ndarray:
    """Share ``n`` (read at each run's first row) over the rows of each run of equal ``labels``
    in proportion to the integer ``weights``: a multinomial draw per run, as conditional
    binomials (exact), vectorised over the runs."""
    return _split_runs(rng, weights, labels, n, _binomial_share)


#: Agents with more acts than this in a week are resolved by geometric waiting times.
ACT_BY_ACT = 64


def distinct_persons(rng, acts: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """Distinct persons reached by ``acts`` acts, each by one of ``persons`` persons uniformly.

    Exact occupancy law: after ``j`` distinct persons the next act reaches a new one with
    probability ``(persons - j) / persons``. Drawn act by act from uniforms, vectorised over the
    agents with two acts or more (one step per act of the busiest); agents with very many acts
    draw the geometric number of acts between new persons instead.
    """
    acts = np.asarray(acts, dtype=np.int64)
    persons = np.asarray(persons, dtype=np.int64)
    got = np.minimum(acts, 1)
    multi = np.flatnonzero((acts >= 2) & (persons >= 2))
    if multi.size == 0:
        return got
    many = multi[acts[multi] > ACT_BY_ACT]
    multi = multi[acts[multi] <= ACT_BY_ACT]
    if multi.size:
        multi = multi[np.argsort(-acts[multi], kind="stable")]  # busiest first: a prefix
        k, n = acts[multi], persons[multi]
        seen = np.ones(multi.size, dtype=np.int64)
        for m in np.searchsorted(-k, -np.arange(2, int(k[0]) + 1), side="right"):
            seen[:m] += rng.random(m) * n[:m] >= seen[:m]
        got[multi] = seen
    if many.size:
        k, n = acts[many], persons[many]
        seen = np.ones(many.size, dtype=np.int64)
        used = np.ones(many.size, dtype=np.int64)
        live = np.arange(many.size)
        while live.size:
            used[live] += rng.geometric((n[live] - seen[live]) / n[live])
            hit = live[used[live] <= k[live]]
            seen[hit] += 1
            live = hit[(seen[hit] < n[hit]) & (used[hit] < k[hit])]
        got[many] = seen
    return got


class Groups:
    """Rows grouped by an integer key without sorting, through a reusable scratch array.

    ``rows(keys)`` gives each row's representative row (one per distinct key) and the mask of
    representative rows; sums per key are then ``bincount(rep, weights)[first]``.
    """

    def __init__(self, size: int):
        self.mark = np.empty(size, dtype=np.int32)

    def rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(keys.size, dtype=np.int32)
        # a key written by several rows keeps one of them (which one does not matter: every
        # row of the key then reads the same representative)
        self.mark[keys] = rows
        rep = self.mark[keys]
        return rep, rep == rows

    def sums(self, keys: np.ndarray, values) -> tuple[np.ndarray, np.ndarray]:
        """Distinct keys (first-seen order of their representative) and the sum of values."""
        rep, first = self.rows(keys)
        total = np.bincount(rep, weights=values, minlength=keys.size)[first]
        return keys[first], total


# --- cells --------------------------------------------------------------------------------------


class Cells:
    """Ties of adopting doctors by (doctor, age band, rule class), with live lists of patients.

    Cell ``c`` owns the slots ``start[c]:start[c] + size[c]`` of ``entries`` (patient agents, in
    the order of their ties' awareness thresholds). Its first ``aware[c]`` ties are aware; the
    slots ``start[c]:start[c] + fill[c]`` are its live list: patient agents of aware ties that
    were capable and not all users when they joined (``dead[c]`` of them have since become all
    users: they are dropped when they make up half of the list). ``W[c]`` is the number of
    non-user persons over the live list, ``users[c]`` the persons whose first teleconsultation
    was on a tie of this cell. ``entries`` is allocated once (one slot per tie); the per-cell
    arrays double when adopting doctors need more cells (a handful of times in a run, at most
    ``limit``: one cell per tie and per (doctor, key)).
    """

    FIELDS = {
        "doc": np.int32,
        "rank": np.int32,  # the doctor's rank in the order of adoption (cells follow it)
        "key": np.uint8,
        "xkey": np.uint16,  # key, plus N_KEYS for second-line doctors (specialists, hospital)
        "start": np.int64,
        "size": np.int32,
        "aware": np.int32,
        "fill": np.int32,
        "dead": np.int32,
        "W": np.int64,  # non-users of the live list able to do video
        "Wp": np.int64,  # non-users of the live list reachable by phone only
        "users": np.int64,  # persons whose first act (video) was on a tie of this cell
        "users_p": np.int64,  # the same, by phone (they come back only while phone is on)
        "mt": np.uint8,  # the cell's ties are médecin-traitant ties
        "cf": np.float64,  # first uses per non-user a week: rate * dt * need * p_new * eligible
        "cfp": np.float64,  # the same for phone-only non-users (0 while phone is off)
        "cum": np.float64,  # scratch: cumulative first-use means (one more entry than cells)
    }

    def __init__(self, n_ties: int, limit: int, capacity: int = 1 << 16):
        self.n = 0
        self.limit = limit
        self.capacity = min(limit, capacity)
        for name, dtype in self.FIELDS.items():
            setattr(self, name, np.zeros(self.capacity + 1, dtype=dtype))
        self.entries = np.empty(n_ties, dtype=np.int32)
        self.used_slots = 0

    def reserve(self, extra: int) -> bool:
        """Room for ``extra`` more cells; True if the arrays were reallocated."""
        if self.n + extra <= self.capacity:
            return False
        self.capacity = min(self.limit, max(self.n + extra, 2 * self.capacity))
        for name in self.FIELDS:
            old = getattr(self, name)
            new = np.zeros(self.capacity + 1, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        return True


class TeleModel(mesa.Model):
    """Doctors and patients adopting téléconsultation, week by week from 15 Sep 2018."""

    def __init__(
        self,
        inputs: Inputs | None = None,
        population: Population | None = None,
        uncertainties: Uncertainties | dict | None = None,
        levers: Levers | dict | None = None,
        seed: int | None = None,
        end: dt.date | str | None = None,
        *,
        scale: int | None = None,
        rng: int | None = None,
        **kwargs,
    ):
        """Positionally from built objects (as ``simulate`` does), or Mesa's way from keywords:
        any lever or uncertainty by name, ``seed`` (or ``rng``), ``end``, ``scale``; the rest
        from the best set and the baseline levers (:mod:`model.mesa_api`)."""
        inputs, population, uncertainties, levers, seed, end = mesa_api.model_arguments(
            inputs, population, uncertainties, levers, seed, end, scale, rng, kwargs
        )
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
        self._demand = lockdown_demand(inputs, levers, uncertainties, self.n_weeks)

        doctors, patients = population.doctors, population.patients
        nd = doctors.n
        # run-time doctor state
        self.adopted = np.zeros(nd, dtype=bool)
        self.adopted_week = np.full(nd, -1, dtype=np.int32)
        self.platform = np.full(nd, -1, dtype=np.int8)
        self.billed = np.zeros(nd, dtype=bool)
        self._hazard = np.zeros(nd, dtype=np.float64)
        self._open = np.zeros(nd, dtype=bool)
        self._open_share = None  # (reference openness, shift, second-line shift) in force
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
        self._cohorts = launch_cohorts(
            inputs, doctors.kind, doctors.region, self.client, levers, uncertainties
        )
        self._cohort_members: dict[str, np.ndarray] = {}
        self._no_billing = np.empty(0, dtype=np.int64)  # cohorts whose acts are no longer paid
        self._doctolib_served = (False, False)  # whom Doctolib video served at the last switch
        self._cell = doctors.region.astype(np.int64) * len(DOCTOR_TYPES) + doctors.kind
        self._n_cells = inputs.n_regions * len(DOCTOR_TYPES)
        self._adopted_cell = np.zeros(self._n_cells, dtype=np.int64)
        self._adopters = np.empty(nd, dtype=np.int64)  # in order of adoption
        self._n_adopters = 0
        self._capacity = np.zeros(nd, dtype=np.int64)
        self._capacity_share = None  # the share ``_capacity`` was computed with
        self._liberal = doctors.kind <= SPECIALIST
        self._n_billing_liberal = 0
        self._n_open = 0
        self._adopting_region = np.zeros(inputs.n_regions, dtype=np.int64)
        self._adopting_type = np.zeros(len(DOCTOR_TYPES), dtype=np.int64)

        # run-time patient state: persons of each agent who have ever teleconsulted
        users_t = np.uint16 if population.scale < 2**16 else np.uint32
        self.users = np.zeros(patients.n, dtype=users_t)
        self._setup_usage()

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
        self.datacollector = mesa.DataCollector(model_reporters=mesa_api.model_reporters())
        release_agent_ids(self)

    def _setup_usage(self) -> None:
        """Per-run state of the patients' step, allocated once (see the module docstring)."""
        pop, lev = self.pop, self.levers
        d, p = pop.doctors, pop.patients
        nd, npat = d.n, p.n
        n_ties = int(d.pri_count.sum()) + pop.links.patient.size
        # the patient agent's part of a cell key: age band and the person-level class bits
        # (kept with the population: it depends on it and on one lever only)
        cache_key = ("patient_key", float(lev.target_deserts))
        if cache_key not in pop.derived:
            waivable = p.desert & (p.desert_u < lev.target_deserts)
            pop.derived[cache_key] = (
                p.age.astype(np.uint8) * N_CLASSES
                + ((p.under16 | ~p.has_mt).astype(np.uint8) << 2)
                + (waivable.astype(np.uint8) << 3)
                + (p.desert.astype(np.uint8) << 4)
            ).astype(np.uint8)
            pop.derived[cache_key].setflags(write=False)
        self._patient_key = pop.derived[cache_key]
        self._rdt = np.where(d.pri_count > 0, pop.gp_rate, d.sec_rate) * DT
        # A tie is its patient's index (médecin-traitant list) or patients + link index. Its code:
        # 0 before its doctor adopts, then -(cell + 1), and cell + 1 once the tie is aware
        self._tie_cell = np.zeros(npat + pop.links.patient.size, dtype=np.int32)
        self._rank = np.empty(nd, dtype=np.int64)  # order of adoption (read for adopters only)
        # (arrays by doctor or by rank are set when the doctor adopts: only those are read)
        self._rank_cells = np.empty(nd + 1, dtype=np.int64)  # cells of rank r: [r], [r + 1]
        self._rank_cells[0] = 0
        self._pref_pri = np.empty(nd, dtype=np.int64)  # aware ties of each list (a prefix)
        self._pref_sec = np.empty(nd, dtype=np.int64)
        # awareness key of the first tie not yet aware (set at adoption, read for adopters only)
        self._next_pri = np.empty(nd)
        self._next_sec = np.empty(nd)
        # at most one cell per tie and per (doctor, key)
        self.cells = Cells(n_ties, min(n_ties, N_KEYS * nd))
        self._cell_groups = Groups(self.cells.limit)
        self._patient_groups = Groups(npat)
        self._first_table = None  # first-use weights by cell key the cells' ``cf`` hold
        self._cf_cells = 0  # cells whose ``cf`` is up to date
        # repeat uses: Poisson mean per (age band, rank of the doctor)
        self._repeat_mean = np.empty((N_AGES, nd))
        self._repeat_table = None  # the repeat weights the means were computed with
        self._capable_at = None  # video capability threshold by age band in force
        self._reach_at = None  # threshold of the live lists: video, or everyone once phone was on
        self._phone_seen = False
        self._mt_docs = d.pri_count > 0  # doctors with a médecin-traitant list
        self._second_line = second_line(d.kind).astype(np.uint16)
        self._repeat_mean_mt = np.empty((N_AGES, nd))  # the part of repeat means on MT ties

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
        self.out_billing_week_liberal = np.zeros(w, dtype=np.int64)
        self.out_billing_week_gp = np.zeros(w, dtype=np.int64)
        self.out_acts_own_mt = np.zeros(w, dtype=np.float64)
        self.out_new_phone = np.zeros(w, dtype=np.int64)
        self.out_stringency = np.zeros(w, dtype=np.float64)
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
            self._demand,
        )
        self._doctor_adoption(k, self.policy)
        self._usage(k, self.policy)
        for region in self.regions:
            region.step()
        self._record(k)
        self.week += 1
        self.running = self.week < self.n_weeks
        self.datacollector.collect(self)

    # --- doctors ------------------------------------------------------------------------------
    def _update_openness(self, pol: WeekPolicy) -> None:
        """Recompute who is open when the reference openness or the pressure shift changes
        (openness never reverts: an equipped doctor stays open)."""
        key = (pol.open_share, pol.open_shift, pol.second_line_open_shift)
        if key == self._open_share:
            return
        d = self.pop.doctors
        shift = rules.by_line(pol.open_shift, pol.second_line_open_shift, self._second_line)
        self._open |= d.open_u < rules.open_probability(pol.open_share, self._effects + shift)
        self._open_share = key
        self._open_cell = np.bincount(self._cell[self._open], minlength=self._n_cells)
        self._n_open = int(self._open_cell.sum())

    def _switch_to_doctolib(self, pol: WeekPolicy) -> None:
        """When Doctolib video starts serving more of its clients (its launch, then the end of
        its rollout), a client who had adopted another platform makes the platform choice again,
        with the same draw as at adoption: Doctolib's video came inside the booking software the
        client already used (an assumption, no parameter). Only the acts' platform tally
        changes: the platform drives nothing else, so every other output stays the same."""
        served = (pol.doctolib_first, pol.doctolib_all)
        if served == self._doctolib_served:
            return
        self._doctolib_served = served
        idx = np.flatnonzero(self.adopted & (self.platform == 1))
        if idx.size == 0:
            return
        d = self.pop.doctors
        doc_pull = self.platforms[0].pull(pol, d, idx)
        other_pull = self.platforms[1].pull(pol, d, idx)
        p_doc = rules.doctolib_choice_probability(np.broadcast_to(doc_pull, idx.shape), other_pull)
        self.platform[idx[d.platform_u[idx] < p_doc]] = 0

    def _launch_cohorts(self, k: int) -> None:
        """Launch cohorts starting this week adopt at once, open whatever their draw; their
        patients' awareness gets its head start; a cohort whose acts stop being reimbursed this
        week bills nothing from now on (:mod:`model.cohorts`)."""
        d = self.pop.doctors
        for c in self._cohorts:
            if c.start_week == k:
                new = cohort_members(c, self.adopted, d.open_u)
                closed = new[~self._open[new]]
                self._open[closed] = True
                self._open_cell += np.bincount(self._cell[closed], minlength=self._n_cells)
                self._n_open += int(closed.size)
                self._adopt(new, np.full(new.size, c.platform, dtype=np.int8), k)
                self.adopted_week[new] = k - round(self.unc.launch_awareness_weeks)
                self._cohort_members[c.name] = new
            if c.billing_end_week == k and c.name in self._cohort_members:
                self._no_billing = np.concatenate([self._no_billing, self._cohort_members[c.name]])

    def _doctor_adoption(self, k: int, pol: WeekPolicy) -> None:
        self._update_openness(pol)
        self._switch_to_doctolib(pol)
        if self._cohorts:
            self._launch_cohorts(k)
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
        external = rules.by_line(
            pol.external_multiplier, pol.second_line_external_multiplier, self._second_line[idx]
        )
        hazard = rules.adoption_hazard(
            unc.p_external * external, pull, unc.q_imitation, peer, multiplier
        )
        self._hazard[idx] += hazard * DT
        hit = self._hazard[idx] >= d.clock[idx]
        new = idx[hit]
        if new.size == 0:
            return
        p_doc = rules.doctolib_choice_probability(
            np.broadcast_to(doc_pull, idx.shape)[hit], other_pull
        )
        self._adopt(new, np.where(d.platform_u[new] < p_doc, 0, 1).astype(np.int8), k)

    def _adopt(self, new: np.ndarray, platform: np.ndarray, k: int) -> None:
        """Doctors ``new`` adopt video in week ``k`` on ``platform``: the bookkeeping."""
        if new.size == 0:
            return
        d = self.pop.doctors
        self.platform[new] = platform
        self.adopted[new] = True
        self.adopted_week[new] = k
        self._adopted_cell += np.bincount(self._cell[new], minlength=self._n_cells)
        self._adopting_region += np.bincount(d.region[new], minlength=self.inputs.n_regions)
        self._adopting_type += np.bincount(d.kind[new], minlength=len(DOCTOR_TYPES))
        ranks = slice(self._n_adopters, self._n_adopters + new.size)
        self._adopters[ranks] = new
        self._rank[new] = np.arange(ranks.start, ranks.stop)
        self._repeat_mean[:, ranks] = 0.0
        self._repeat_mean_mt[:, ranks] = 0.0
        self._pref_pri[new] = 0
        self._pref_sec[new] = 0
        self._n_adopters += new.size
        self._add_cells(new)

    # --- patients: the cells ------------------------------------------------------------------
    def _add_cells(self, docs: np.ndarray) -> None:
        """Lay out the ties of newly adopting doctors in cells (once per doctor)."""
        pop, cells = self.pop, self.cells
        d, p, links = pop.doctors, pop.patients, pop.links
        pri, pri_row = expand(d.pri_start[docs], d.pri_count[docs])
        sec, sec_row = expand(d.sec_start[docs], d.sec_count[docs])
        self._next_pri[docs] = np.where(
            d.pri_count[docs] > 0, p.aware_key[np.minimum(d.pri_start[docs], p.n - 1)], np.inf
        )
        last_link = max(links.aware_key.size - 1, 0)
        self._next_sec[docs] = np.where(
            d.sec_count[docs] > 0,
            links.aware_key[np.minimum(d.sec_start[docs], last_link)]
            if links.aware_key.size
            else 0,
            np.inf,
        )
        if pri.size + sec.size == 0:
            r0 = int(self._rank[docs[0]])
            self._rank_cells[r0 + 1 : r0 + 1 + docs.size] = cells.n
            return
        patient = np.concatenate([pri, links.patient[sec]])
        tie = np.concatenate([pri, p.n + sec])
        row = np.concatenate([pri_row, sec_row])
        key = self._patient_key[patient] + np.concatenate(
            [
                p.known_mt[pri].astype(np.uint8) + np.uint8(2),  # a médecin-traitant tie
                links.known[sec].astype(np.uint8) + (links.pathway[sec].astype(np.uint8) << 1),
            ]
        )
        # one sort per adoption week: by doctor then key; stable, so each cell keeps the order of
        # its ties' awareness thresholds (a cell never mixes the two lists: médecin-traitant ties
        # are in the pathway, and doctors with such a list have no link in the pathway)
        sort_key = row * N_KEYS + key
        order = stable_order(sort_key)
        row, key, patient, tie = row[order], key[order], patient[order], tie[order]
        first = run_starts(sort_key[order])
        is_sec = tie >= p.n
        if np.any(np.maximum.reduceat(is_sec, first) != np.minimum.reduceat(is_sec, first)):
            raise RuntimeError("a cell mixes médecin-traitant ties and links (population layout)")
        n_new = first.size
        cells.reserve(n_new)
        ids = np.arange(cells.n, cells.n + n_new)
        slot0 = cells.used_slots
        owner = docs[row[first]]
        cells.doc[ids] = owner
        cells.rank[ids] = self._rank[owner]
        cells.key[ids] = key[first]
        cells.mt[ids] = self._mt_docs[owner] & ((key[first] & 2) > 0)
        cells.xkey[ids] = key[first] + N_KEYS * self._second_line[owner]
        cells.start[ids] = slot0 + first
        cells.size[ids] = np.diff(np.append(first, row.size))
        cells.entries[slot0 : slot0 + row.size] = patient
        self._tie_cell[tie] = -np.repeat(ids + 1, cells.size[ids])
        cells.n += n_new
        cells.used_slots += row.size
        # cells of each new doctor (ranks follow ``docs``): end of each doctor's range
        per_doc = np.bincount(row[first], minlength=docs.size)
        r0 = int(self._rank[docs[0]])
        self._rank_cells[r0 + 1 : r0 + 1 + docs.size] = ids[0] + np.cumsum(per_doc)

    def _live(self, patient: np.ndarray) -> np.ndarray:
        """Non-user persons of each patient agent (int64)."""
        return self.pop.scale - self.users[patient].astype(np.int64)

    def _capable(self, patient: np.ndarray) -> np.ndarray:
        """Whether these agents can do a video consultation (else phone only)."""
        p = self.pop.patients
        return p.capable_u[patient] < self._capable_at[p.age[patient]]

    def _reached(self, patient: np.ndarray) -> np.ndarray:
        """Whether these agents belong in live lists: able to do video, or anyone once audio-only
        acts have been reimbursed (phone-only agents then stay, idle while phone is off)."""
        p = self.pop.patients
        return p.capable_u[patient] < self._reach_at[p.age[patient]]

    def _update_capability(self, pol: WeekPolicy) -> None:
        """Capability thresholds only rise: newly reached agents join the live lists of their
        aware ties; reached agents that become able to do video move from ``Wp`` to ``W``."""
        pop, cells = self.pop, self.cells
        video = rules.capability_threshold(pop.capable_by_age, pol.capability_boost)
        self._phone_seen |= pol.phone
        reach = np.ones_like(video) if self._phone_seen else video
        before_v, before_r = self._capable_at, self._reach_at
        if (
            before_v is not None
            and np.array_equal(video, before_v)
            and np.array_equal(reach, before_r)
        ):
            return
        if before_v is not None and (np.any(video < before_v) or np.any(reach < before_r)):
            raise NotImplementedError("the capability threshold went down during a run")
        self._capable_at, self._reach_at = video, reach
        if before_v is None or cells.n == 0:
            return
        p = pop.patients
        joined, moved = [], []
        for lo in range(0, p.n, CHUNK):
            u, age = p.capable_u[lo : lo + CHUNK], p.age[lo : lo + CHUNK]
            joined.append(np.flatnonzero((u >= before_r[age]) & (u < reach[age])) + lo)
            moved.append(
                np.flatnonzero((u >= before_v[age]) & (u < video[age]) & (u < before_r[age])) + lo
            )
        cell, patient = self._aware_cells(np.concatenate(joined))
        if cell.size:
            # append at the end of each cell's live list (they are all non-users)
            order = stable_order(cell)
            cell, patient = cell[order], patient[order]
            first = run_starts(cell)
            sizes = np.diff(np.append(first, cell.size))
            rank = np.arange(cell.size) - np.repeat(first, sizes)
            cells.entries[cells.start[cell] + cells.fill[cell] + rank] = patient
            ids = cell[first]
            cells.fill[ids] += sizes.astype(np.int32)
            live, vid = self._live(patient), self._capable(patient)
            cells.W[ids] += np.add.reduceat(live * vid, first)
            cells.Wp[ids] += np.add.reduceat(live * ~vid, first)
        cell, patient = self._aware_cells(np.concatenate(moved))
        if cell.size:
            live = self._live(patient)
            np.add.at(cells.W, cell, live)
            np.subtract.at(cells.Wp, cell, live)

    def _links_of(self, patient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The links of these patient agents, and the row of their agent."""
        order, first = self.pop.links_by_patient()
        idx, row = expand(first[patient], first[patient + 1] - first[patient])
        return order[idx].astype(np.int64), row

    def _extend_awareness(self, k: int) -> None:
        """Aware ties are a prefix of each list: extend the prefixes, move the ties into lists."""
        n = self._n_adopters
        if n == 0:
            return
        pop, cells = self.pop, self.cells
        d, p, links = pop.doctors, pop.patients, pop.links
        ad = self._adopters[:n]
        exposure = np.array([r.exposure for r in self.regions])
        aware = rules.awareness_probability(
            exposure[d.region[ad]], (k - self.adopted_week[ad]) * DT, self.unc.awareness_doctor
        )
        limit = ad + aware
        grow = (limit > self._next_pri[ad]) | (limit > self._next_sec[ad])
        if not grow.any():
            return
        order = np.argsort(ad[grow])
        docs, limit = ad[grow][order], limit[grow][order]
        new_ties = []
        for key, start, count, pref, nxt, offset in (
            (p.aware_key, d.pri_start, d.pri_count, self._pref_pri, self._next_pri, 0),
            (links.aware_key, d.sec_start, d.sec_count, self._pref_sec, self._next_sec, p.n),
        ):
            sel = limit > nxt[docs]
            g, lim = docs[sel], limit[sel]
            new = np.clip(np.searchsorted(key, lim, side="left") - start[g], pref[g], count[g])
            new_ties.append(expand(start[g] + pref[g] + offset, new - pref[g], rows=False))
            pref[g] = new
            nxt[g] = np.where(new < count[g], key[np.minimum(start[g] + new, key.size - 1)], np.inf)
        tie = np.concatenate(new_ties)
        code = self._tie_cell[tie]
        self._tie_cell[tie] = -code  # now aware
        cell = -code.astype(np.int64) - 1
        # the newly aware ties of a cell are its next ``m`` slots: move those of capable
        # agents with non-users into the live list
        ids, m = self._cell_groups.sums(cell, None)
        order = np.argsort(ids)
        ids, m = ids[order], m[order].astype(np.int64)
        slot, row = expand(cells.start[ids] + cells.aware[ids], m)
        patient = cells.entries[slot]
        live = self._live(patient)
        ok = (live > 0) & self._reached(patient)
        vid = self._capable(patient)
        rank = np.cumsum(ok) - ok
        rank -= np.repeat(rank[np.cumsum(m) - m], m)
        dest = cells.start[ids] + cells.fill[ids]
        cells.entries[dest[row[ok]] + rank[ok]] = patient[ok]
        cells.fill[ids] += np.bincount(row, weights=ok, minlength=ids.size).astype(np.int32)
        cells.W[ids] += np.bincount(row, weights=live * (ok & vid), minlength=ids.size).astype(
            np.int64
        )
        cells.Wp[ids] += np.bincount(row, weights=live * (ok & ~vid), minlength=ids.size).astype(
            np.int64
        )
        cells.aware[ids] += m.astype(np.int32)

    def _aware_cells(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cells of the aware ties of these agents (with adopting doctors), and the agent.

        An agent with non-users that is capable is in the live list of each of its aware ties:
        it joined when the tie became aware or when it became capable.
        """
        link, row = self._links_of(agents)
        cell = np.concatenate([self._tie_cell[agents], self._tie_cell[self.pop.patients.n + link]])
        owner = np.concatenate([agents, agents[row]])
        aware = cell > 0
        return cell[aware].astype(np.int64) - 1, owner[aware]

    # --- patients: the week -------------------------------------------------------------------
    def _choice_tables(self, pol: WeekPolicy) -> np.ndarray:
        """Per extended cell key (key, then key + N_KEYS for second-line doctors): need x choice
        probability x eligibility, for first and repeat uses, by video and by phone (rows: first
        video, repeat video, first phone, repeat phone)."""
        unc, pop = self.unc, self.pop
        key = np.arange(N_KEYS)
        age, klass = key // N_CLASSES, key % N_CLASSES
        desert = (klass >> 4) & 1
        exception = (klass & 4) > 0
        if pol.desert_waiver > 0:
            exception |= (klass & 8) > 0
        known = (klass & 1) > 0
        if pol.known_waived_desert:
            known |= desert > 0
        ok = rules.eligible(known, (klass & 2) > 0, exception, pol.known_rule, pol.pathway_rule)
        ok = rules.eligible_share(ok, pol.rules_waiver)
        logit = rules.choice_logit(unc, age, desert, 1.0 - pol.coverage, pol.choice_shift)
        base = pop.age_need[age] * ok * pol.need_factor
        base = np.concatenate([base, base * pol.second_line_need_factor])
        logit = np.concatenate([logit, logit])
        again = unc.repeat_need_ratio
        tables = np.zeros((4, 2 * N_KEYS))
        for row, shift in ((0, 0.0), (2, unc.phone_choice)):
            if row == 2 and not pol.phone:
                break
            tables[row] = base * rules.logistic(logit + shift)
            tables[row + 1] = base * again * rules.logistic(logit + shift + np.log(unc.repeat_odds))
        return tables

    def _update_rates(self, tables: np.ndarray) -> None:
        """Per-cell first-use factors and per (doctor, age band) repeat means, recomputed in full
        only when the policy changes the weights."""
        c, n = self.cells, self.cells.n
        lo = self._cf_cells
        first = tables[[0, 2]]
        if self._first_table is None or not np.array_equal(first, self._first_table):
            self._first_table, lo = first, 0
        rdt = self._rdt[c.doc[lo:n]]
        np.take(first[0], c.xkey[lo:n], out=c.cf[lo:n])
        c.cf[lo:n] *= rdt
        np.take(first[1], c.xkey[lo:n], out=c.cfp[lo:n])
        c.cfp[lo:n] *= rdt
        self._cf_cells = n
        repeat = tables[[1, 3]]
        if self._repeat_table is not None and np.array_equal(repeat, self._repeat_table):
            return
        self._repeat_table = repeat
        m = self._n_adopters  # only the adopting doctors' columns are used
        key = c.xkey[:n]
        pair = (c.key[:n] // N_CLASSES).astype(np.int64) * m + c.rank[:n]
        weights = (repeat[0][key] * c.users[:n] + repeat[1][key] * c.users_p[:n]) * self._rdt[
            c.doc[:n]
        ]
        for out, w in ((self._repeat_mean, weights), (self._repeat_mean_mt, weights * c.mt[:n])):
            out[:, :m] = np.bincount(pair, w, minlength=N_AGES * m).reshape(N_AGES, m)

    def _first_use_means(self) -> np.ndarray:
        """Cumulative first-use means over the cells (``cum[i]`` = cells before ``i``) and the
        mean of each doctor (by rank); cells of a doctor are consecutive, in rank order."""
        c, n = self.cells, self.cells.n
        cum = c.cum[: n + 1]
        cum[0] = 0.0
        np.multiply(c.cf[:n], c.W[:n], out=cum[1:])
        if self._phone_seen:
            cum[1:] += c.cfp[:n] * c.Wp[:n]
        np.cumsum(cum[1:], out=cum[1:])
        bounds = cum[self._rank_cells[: self._n_adopters + 1]]
        return cum, np.maximum(np.diff(bounds), 0.0)

    def _apply_capacity(self, rng, first, repeat) -> np.ndarray:
        """A doctor bills at most ``capacity`` acts a week: keep a uniform random subset.

        ``first`` holds each doctor's first-use acts, ``repeat`` its repeat acts (rows: age
        bands; columns: doctors by rank). Returns the first-use acts kept and updates ``repeat``
        in place: a crowded doctor's kept first uses are hypergeometric, its kept repeat uses a
        multivariate hypergeometric over its age bands.
        """
        n = self._n_adopters
        cap = self._capacity[self._adopters[:n]]
        total_repeat = repeat.sum(axis=0)
        over = np.flatnonzero(first + total_repeat > cap)
        if over.size == 0:
            return first
        kept = first.copy()
        kept[over] = hypergeometric(rng, first[over], first[over] + total_repeat[over], cap[over])
        repeat[:, over] = keep_columns(rng, repeat[:, over], cap[over] - kept[over])
        return kept

    def _first_use_cells(self, rng, cum, kept) -> tuple[np.ndarray, np.ndarray]:
        """The cell of each kept first use: a categorical draw among the doctor's cells in
        proportion to their means (exact: the cells of a doctor's acts are independent).
        Returns the cells with acts and their counts."""
        acting = np.flatnonzero(kept)
        first, last = self._rank_cells[acting], self._rank_cells[acting + 1]
        # a doctor with one cell needs no draw
        one = last - first == 1
        k = kept[acting[~one]]
        lo = np.repeat(cum[first[~one]], k)
        hi = np.repeat(cum[last[~one]], k)
        target = lo + rng.random(lo.size) * (hi - lo)
        target = np.minimum(target, np.nextafter(hi, -np.inf))
        cell = np.searchsorted(cum, target, side="right") - 1
        ids, n = self._cell_groups.sums(cell, None)
        return np.concatenate([first[one], ids]), np.concatenate([kept[acting[one]], n])

    def _who(
        self, rng, fcell, fcount, video: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spread each cell's kept first uses over its live patient agents of one channel
        (``video`` or phone only), in proportion to their non-users: (patient agent, cell, acts)
        rows."""
        c, s = self.cells, self.pop.scale
        fill, W = c.fill[fcell], (c.W if video else c.Wp)[fcell]

        def weight(patient):  # non-users of the agents, 0 for the other channel's agents
            live = self._live(patient)
            if self._phone_seen:
                live *= self._capable(patient) == video
            return live

        # one agent: all of them; else rejection from the live list (about acts * s * fill / W
        # draws) unless a multinomial over the list (fill binomial draws) is cheaper
        one = fill == 1
        scan = ~one & (SCAN_COST * W < fcount * s)
        rej = ~one & ~scan
        rows_p, rows_c, rows_n = [], [], []
        rows_p.append(c.entries[c.start[fcell[one]]].astype(np.int64))
        rows_c.append(fcell[one])
        rows_n.append(fcount[one])
        if scan.any():
            sc, sn = fcell[scan], fcount[scan]
            slot, row = expand(c.start[sc], c.fill[sc])
            patient = c.entries[slot].astype(np.int64)
            n = np.zeros(row.size, dtype=np.int64)
            n[np.cumsum(c.fill[sc]) - c.fill[sc]] = sn
            x = split_multinomial(rng, weight(patient), row, n)
            hit = np.flatnonzero(x)
            rows_p.append(patient[hit])
            rows_c.append(sc[row[hit]])
            rows_n.append(x[hit])
        if rej.any():
            cell = np.repeat(fcell[rej], fcount[rej])
            patient = np.empty(cell.size, dtype=np.int64)
            todo = np.arange(cell.size)
            start, fill = c.start[cell], c.fill[cell]
            while todo.size:
                u = rng.random(todo.size) * fill[todo]
                pick = np.minimum(u.astype(np.int64), fill[todo] - 1)
                cand = c.entries[start[todo] + pick]
                # the fractional part is a fresh uniform: accept with probability live / s
                ok = (u - pick) * s < weight(cand)
                done = np.flatnonzero(ok)
                patient[todo[done]] = cand[done]
                todo = todo[np.flatnonzero(~ok)]
            rows_p.append(patient)
            rows_c.append(cell)
            rows_n.append(np.ones(cell.size, dtype=np.int64))
        return np.concatenate(rows_p), np.concatenate(rows_c), np.concatenate(rows_n)

    def _new_users(self, rng, patient, cell, acts):
        """Distinct persons among each agent's acts become users; each new user's first tie is
        the cell of one of their acts (a uniform subset of the agent's acts).

        Returns the agents, their new users, and the new users by row (first tie = row's cell).
        """
        rep, first = self._patient_groups.rows(patient)
        k = np.bincount(rep, weights=acts, minlength=patient.size)[first].astype(np.int64)
        agents = patient[first]
        new = distinct_persons(rng, k, self._live(agents))
        per_row = acts
        short = np.flatnonzero(new < k)
        if short.size:
            per_row = acts.copy()
            want = np.zeros(patient.size, dtype=np.int64)
            want[np.flatnonzero(first)[short]] = new[short]
            rows = np.flatnonzero(want[rep] > 0)
            rows = rows[np.argsort(rep[rows], kind="stable")]
            per_row[rows] = split_hypergeometric(rng, acts[rows], rep[rows], want[rep[rows]])
        return agents, new, per_row

    def _usage(self, k: int, pol: WeekPolicy) -> None:
        """Needs on adopting doctors' lists become acts: first uses and repeat uses."""
        if not pol.reimbursed or self._n_adopters == 0:
            return
        rng = stream(self.seed, STREAM_USAGE, k)
        pop, c, s = self.pop, self.cells, self.pop.scale
        d, p = pop.doctors, pop.patients
        if pol.capacity_share != self._capacity_share:
            self._capacity = np.ceil(pol.capacity_share * d.volume).astype(np.int64)
            self._capacity_share = pol.capacity_share
        self._capacity[self._no_billing] = 0
        self._update_capability(pol)
        self._extend_awareness(k)
        self._update_rates(self._choice_tables(pol))

        n = self._n_adopters
        cum, mean = self._first_use_means()
        first = rng.poisson(mean)
        repeat = rng.poisson(self._repeat_mean[:, :n])  # (age band, doctor)
        first = self._apply_capacity(rng, first, repeat)
        fcell, fcount = self._first_use_cells(rng, cum, first)
        fcount = fcount.astype(np.int64)

        # acts, by doctor and by age band
        per_rank = first + repeat.sum(axis=0)
        acting = np.flatnonzero(per_rank)
        n_acts = per_rank[acting]
        acting = self._adopters[acting]
        newly_billed = acting[~self.billed[acting]]
        self.billed[acting] = True
        self._n_billing_liberal += int(self._liberal[newly_billed].sum())
        self.out_billing_week_liberal[k] = int(self._liberal[acting].sum())
        self.out_billing_week_gp[k] = int((d.kind[acting] == GP).sum())

        def tally(keys, size):
            return np.bincount(keys, weights=n_acts, minlength=size)

        self.out_acts_type[k] = tally(d.kind[acting], len(DOCTOR_TYPES))
        self.out_acts_region[k] = tally(d.region[acting], len(self.regions))
        self.out_acts_platform[k] = tally(self.platform[acting], len(PLATFORMS))
        self.out_acts_liberal_60[k] = n_acts[self._liberal[acting] & d.age60[acting]].sum()
        self.out_acts_age[k] = np.bincount(
            c.key[fcell] // N_CLASSES, weights=fcount, minlength=N_AGES
        ) + repeat.sum(axis=1)
        # on the médecin-traitant tie: first uses counted, repeat uses by their expected share
        mean_all = self._repeat_mean[:, :n]
        mt_share = np.divide(
            self._repeat_mean_mt[:, :n], mean_all, out=np.zeros_like(mean_all), where=mean_all > 0
        )
        self.out_acts_own_mt[k] = fcount[c.mt[fcell] > 0].sum() + (repeat * mt_share).sum()
        if fcell.size == 0:
            return

        # first uses by channel: video or (while reimbursed) phone
        video_part = c.cf[fcell] * c.W[fcell]
        phone_part = c.cfp[fcell] * c.Wp[fcell]
        n_video = fcount
        mixed = np.flatnonzero(phone_part > 0)
        if mixed.size:
            n_video = fcount.copy()
            share = video_part[mixed] / (video_part[mixed] + phone_part[mixed])
            n_video[mixed] = rng.binomial(fcount[mixed], share)
        rows = [self._who(rng, fcell[n_video > 0], n_video[n_video > 0])]
        n_phone = fcount - n_video
        if mixed.size and n_phone.any():
            rows.append(self._who(rng, fcell[n_phone > 0], n_phone[n_phone > 0], video=False))
        patient, cell, acts = (np.concatenate(parts) for parts in zip(*rows, strict=True))

        # who becomes a user
        agents, new, per_row = self._new_users(rng, patient, cell, acts)
        self.users[agents] += new.astype(self.users.dtype)
        self.out_new_age[k] = np.bincount(p.age[agents], weights=new, minlength=N_AGES)
        gained = np.bincount(p.region[agents], weights=new, minlength=len(self.regions))
        for region_agent, gained_r in zip(self.regions, gained, strict=True):
            region_agent.users += float(gained_r)
        agent_video = self._capable(agents) if self._phone_seen else np.ones(agents.size, bool)
        self.out_new_phone[k] = new[~agent_video].sum()

        # new users come back with the doctor of their first tie, by the channel of their first act
        row_video = self._capable(patient) if self._phone_seen else np.ones(patient.size, bool)
        for channel, users in ((True, c.users), (False, c.users_p)):
            hit = (per_row > 0) & (row_video == channel)
            if not hit.any():
                continue
            ids, n_new = self._cell_groups.sums(cell[hit], per_row[hit])
            users[ids] += n_new.astype(np.int64)
            pair = (c.key[ids] // N_CLASSES).astype(np.int64) * d.n + c.rank[ids]
            table = self._repeat_table[0 if channel else 1]
            weight = table[c.xkey[ids]] * self._rdt[c.doc[ids]] * n_new
            np.add.at(self._repeat_mean.reshape(-1), pair, weight)
            np.add.at(self._repeat_mean_mt.reshape(-1), pair, weight * c.mt[ids])

        # fewer non-users in every live list the agents are in (all of them gained users)
        lcell, owner = self._aware_cells(agents)
        self._patient_groups.rows(agents)  # agents are distinct: marks their rows
        owner = self._patient_groups.mark[owner]
        rep, first = self._cell_groups.rows(lcell)
        ids = lcell[first]
        lost = new[owner] * agent_video[owner]
        c.W[ids] -= np.bincount(rep, weights=lost, minlength=rep.size)[first].astype(np.int64)
        if self._phone_seen:
            lost = new[owner] * ~agent_video[owner]
            c.Wp[ids] -= np.bincount(rep, weights=lost, minlength=rep.size)[first].astype(np.int64)
        dead = self.users[agents] >= s
        died = np.bincount(rep, weights=dead[owner], minlength=rep.size)[first]
        c.dead[ids] += died.astype(np.int32)
        self._compact(ids[2 * c.dead[ids] > c.fill[ids]])

    def _compact(self, ids: np.ndarray) -> None:
        """Drop the agents that are all users from these cells' live lists."""
        if ids.size == 0:
            return
        c = self.cells
        slot, row = expand(c.start[ids], c.fill[ids])
        patient = c.entries[slot]
        keep = self._live(patient) > 0
        rank = np.cumsum(keep) - keep
        rank -= np.repeat(rank[np.cumsum(c.fill[ids]) - c.fill[ids]], c.fill[ids])
        c.entries[c.start[ids][row[keep]] + rank[keep]] = patient[keep]
        c.fill[ids] = np.bincount(row, weights=keep, minlength=ids.size).astype(np.int32)
        c.dead[ids] = 0

    # --- bookkeeping --------------------------------------------------------------------------
    def _record(self, k: int) -> None:
        self.out_adopting_region[k] = self._adopting_region
        self.out_adopting_type[k] = self._adopting_type
        self.out_billing_liberal[k] = self._n_billing_liberal
        self.out_open[k] = self._n_open
        self.out_stringency[k] = self.policy.stringency if self.policy is not None else 0.0
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
