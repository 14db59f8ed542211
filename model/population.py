"""Synthetic population: every doctor and one patient agent per ``scale`` persons, as numpy arrays.

The population depends only on the inputs, the scale and the seed, never on the uncertainties or
levers: every calibration candidate and every scenario meets the same doctors and patients (common
random numbers), and a built population can be reused across runs (see :func:`build_population`).

Layout (struct of arrays, as fast epidemiological ABMs do):

* doctors are ordered by region then type;
* patients are ordered by region, and inside a region the patients of one médecin traitant (MT)
  are contiguous, so an MT's list is a slice ``pri_start:pri_start+pri_count`` and never needs an
  index array (this keeps the full 67-million-person population cheap);
* every other doctor–patient tie (a specialist's or hospital doctor's follow-up patients, a
  health-centre doctor's patients without an MT) is a *link*; a doctor's links are the slice
  ``sec_start:sec_start+sec_count`` of the link arrays.

A patient agent stands for ``scale`` identical persons: it draws needs at ``scale`` times a
person's rate, and counts how many of its persons have ever teleconsulted. With ``scale=1`` every
agent is one person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .inputs import Inputs, largest_remainder

#: Per-purpose random streams (spawn keys of the root seed). Keep numbers stable: they define runs.
STREAM_DOCTORS = 0
STREAM_PATIENTS = 1
STREAM_ADOPTION = 2
STREAM_USAGE = 3

GP, SPECIALIST, HEALTH_CENTRE, HOSPITAL = 0, 1, 2, 3
AGE_KEYS = ("0_19", "20_39", "40_59", "60_74", "75p")


def second_line(kind: np.ndarray) -> np.ndarray:
    """Specialists and hospital doctors: the second line of care (follow-ups and referrals),
    whose needs and lockdown response differ from the first line's."""
    kind = np.asarray(kind)
    return (kind == SPECIALIST) | (kind == HOSPITAL)


def stream(seed: int, purpose: int, *extra: int) -> np.random.Generator:
    """An independent generator for one purpose (and optionally one week) of one run."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(purpose, *extra)))


@dataclass(frozen=True)
class Doctors:
    """Static doctor attributes (the run-time state lives in the model)."""

    region: np.ndarray  # int8 region index
    kind: np.ndarray  # int8 doctor type index
    age60: np.ndarray  # bool, aged 60 or more
    urban: np.ndarray  # bool, urban practice
    group: np.ndarray  # bool, group practice (salaried doctors always work in teams)
    client_u: np.ndarray  # float64 threshold: a Doctolib booking client if below the share
    direct_access: np.ndarray  # bool, specialist in a direct-access specialty
    open_u: np.ndarray  # float64 openness threshold: open while open_u < open probability
    clock: np.ndarray  # float64 Exp(1) adoption clock: adopts when cumulative hazard reaches it
    platform_u: np.ndarray  # float64 uniform deciding the platform at adoption
    pri_start: np.ndarray  # int64 first patient of the MT list
    pri_count: np.ndarray  # int64 length of the MT list (0 for non-MT doctors)
    sec_start: np.ndarray  # int64 first link
    sec_count: np.ndarray  # int64 number of links
    sec_rate: np.ndarray  # float64 yearly need rate per person of a link, before the age factor
    volume: np.ndarray  # float64 weekly consultations (persons) of this doctor

    @property
    def n(self) -> int:
        return int(self.region.size)


@dataclass(frozen=True)
class Patients:
    """Static patient-agent attributes; each agent stands for ``scale`` persons."""

    region: np.ndarray  # int8
    age: np.ndarray  # int8 age band index
    has_mt: np.ndarray  # bool, has a médecin traitant
    known_mt: np.ndarray  # bool, seen in person by their MT in the last 12 months
    under16: np.ndarray  # bool (exception to both rules)
    desert: np.ndarray  # bool, lives in an under-served area
    desert_u: np.ndarray  # float32 threshold for the under-served waiver lever
    aware_key: np.ndarray  # float64 MT doctor index + awareness threshold (sorted in each list)
    capable_u: np.ndarray  # float32 digital-capability threshold

    @property
    def n(self) -> int:
        return int(self.region.size)


@dataclass(frozen=True)
class Links:
    """Doctor–patient ties other than the MT list, grouped by doctor."""

    patient: np.ndarray  # int32 or int64 patient index
    aware_key: np.ndarray  # float64 doctor index + awareness threshold of the tie (sorted)
    known: np.ndarray  # bool, seen in person by this doctor in the last 12 months
    pathway: np.ndarray  # bool, inside the coordinated pathway (referred, or direct access)


@dataclass(frozen=True)
class Population:
    doctors: Doctors
    patients: Patients
    links: Links
    scale: int
    persons_by_region: np.ndarray  # float64 persons represented, per region
    age_need: np.ndarray  # float64 relative need by age band
    gp_rate: float  # yearly GP-type consultations per person at age factor 1
    capable_by_age: np.ndarray  # float64 share able to do video, by age band
    inputs_ref: Inputs | None = None  # the inputs it was built from (cache check)
    #: read-only structures derived on first use and kept with the population (see below)
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    def links_by_patient(self) -> tuple[np.ndarray, np.ndarray]:
        """Each patient's links: ``order[first[i]:first[i+1]]`` are the links of patient ``i``.

        The engine needs it when a patient agent gains users (its other ties lose weight);
        built on first use (a stable sort of the link array) and kept with the population.
        """
        if "links_by_patient" not in self.derived:
            patient, n, m = self.links.patient, self.patients.n, self.links.patient.size
            idx_t = patient.dtype
            # a stable argsort, as one sort of (patient, link) packed in 64 bits (much faster),
            # built and read in blocks (no other temporary of the links' size)
            packed = patient.astype(np.int64)
            for lo in range(0, m, CHUNK):
                hi = min(m, lo + CHUNK)
                packed[lo:hi] <<= 32
                packed[lo:hi] |= np.arange(lo, hi)
            packed.sort()
            order = np.empty(m, dtype=idx_t)
            starts = [np.zeros(0, dtype=np.int64)]
            for lo in range(0, m, CHUNK):
                hi = min(m, lo + CHUNK)
                order[lo:hi] = packed[lo:hi] & 0xFFFFFFFF
                block = packed[max(lo - 1, 0) : hi] >> 32
                change = (
                    np.flatnonzero(block[1:] != block[:-1]) + 1
                    if lo
                    else np.flatnonzero(np.diff(block, prepend=-1))
                )
                starts.append(change + max(lo - 1, 0))
            starts = np.concatenate(starts)  # first link of each patient with links
            owners = packed[starts] >> 32
            del packed
            # first link of each patient; one without links starts where the next one does
            first = np.empty(n + 1, dtype=idx_t)
            gap = np.diff(owners, prepend=-1)
            end = 0
            for j in range(0, starts.size, CHUNK):
                block = np.repeat(starts[j : j + CHUNK].astype(idx_t), gap[j : j + CHUNK])
                first[end : end + block.size] = block
                end += block.size
            first[end:] = m
            for a in (order, first):
                a.setflags(write=False)
            self.derived["links_by_patient"] = (order, first)
        return self.derived["links_by_patient"]


#: Large arrays of the population are generated this many elements at a time: temporaries stay
#: small (no page faults for gigabytes of short-lived arrays at full scale).
CHUNK = 1 << 21


def sorted_uniform_segments(
    rng: np.random.Generator, sizes: np.ndarray, labels: np.ndarray | None = None
) -> np.ndarray:
    """Independent uniforms, sorted within consecutive segments of the given sizes, in O(n).

    Uses the spacings construction of uniform order statistics (normalised partial sums of
    exponentials). Sorting thresholds along a list whose members are otherwise in random order
    gives the same joint distribution as random thresholds, and lets the model find the members
    below a threshold by binary search. With ``labels`` (one per segment), returns the float64
    keys ``labels[segment] + uniform`` instead of the float32 uniforms.

    Computed a block of whole segments at a time (the running sum carried over, so the values do
    not depend on the blocks).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n, m = int(sizes.sum()), sizes.size
    out = np.empty(n, dtype=np.float32 if labels is None else np.float64)
    if n == 0:
        return out
    top = np.nextafter(np.float32(1), np.float32(0))
    ends = np.cumsum(sizes)
    carry, s0, e0 = 0.0, 0, 0
    while s0 < m:
        s1 = max(s0 + 1, int(np.searchsorted(ends, e0 + CHUNK, side="right")))
        e1 = int(ends[s1 - 1])
        sz = sizes[s0:s1]
        spacing = rng.exponential(1.0, e1 - e0 + s1 - s0)  # each segment has size+1 spacings
        cum = np.cumsum(np.concatenate([[carry], spacing]))[1:]
        carry = cum[-1]
        first = np.concatenate([[0], np.cumsum(sz + 1)[:-1]])
        before = cum[first] - spacing[first]
        total = cum[first + sz] - before
        seg = np.repeat(np.arange(s1 - s0), sz)
        pos = np.arange(e1 - e0) + seg  # skip each segment's closing spacing
        u = np.minimum((cum[pos] - before[seg]) / total[seg], top).astype(np.float32)
        out[e0:e1] = u if labels is None else np.asarray(labels)[s0:s1][seg] + u
        s0, e0 = s1, e1
    return out


def _uniform_below(rng: np.random.Generator, threshold, n: int) -> np.ndarray:
    """``rng.random(n, dtype=float32) < threshold`` in blocks (the same draws, without an
    n-sized temporary); ``threshold`` is a scalar or ``f(lo, hi)`` giving elements lo..hi-1."""
    out = np.empty(n, dtype=bool)
    u = np.empty(min(n, CHUNK), dtype=np.float32)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        rng.random(out=u[: hi - lo], dtype=np.float32)
        t = threshold(lo, hi) if callable(threshold) else threshold
        np.less(u[: hi - lo], t, out=out[lo:hi])
    return out


def _uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """``rng.random(n, dtype=float32)`` in blocks (the same draws)."""
    out = np.empty(n, dtype=np.float32)
    for lo in range(0, n, CHUNK):
        rng.random(out=out[lo : lo + CHUNK], dtype=np.float32)
    return out


def _segment_sums(values_at, n: int, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sums of ``values_at(lo, hi)`` (the values of elements lo..hi-1) over the segments
    ``starts[i]:starts[i]+counts[i]``, by a running sum computed in blocks."""
    bounds = np.concatenate([starts, starts + counts])
    order = np.argsort(bounds, kind="stable")
    at = bounds[order]
    cum_at = np.zeros(at.size)
    carry, j = 0.0, 0
    for lo in range(0, n + 1, CHUNK):
        hi = min(n, lo + CHUNK)
        cum = np.cumsum(np.concatenate([[carry], values_at(lo, hi)]))  # cum[i] = sum before lo+i
        k = int(np.searchsorted(at, hi, side="right")) if hi < n else at.size
        cum_at[j:k] = cum[at[j:k] - lo]
        carry, j = cum[-1], k
    out = np.empty(bounds.size)
    out[order] = cum_at
    return out[starts.size :] - out[: starts.size]


def _split_sizes(rng: np.random.Generator, total: int, weights: np.ndarray) -> np.ndarray:
    """Random list sizes: ``total`` ties shared among doctors in proportion to ``weights``."""
    if weights.size == 0 or total == 0:
        return np.zeros(weights.size, dtype=np.int64)
    return rng.multinomial(total, weights / weights.sum()).astype(np.int64)


#: Patient agents the population cache may hold in all (about 30 bytes each): several coarse
#: populations (calibration replicates) fit, a single full-scale one does not stay.
CACHE_AGENT_BUDGET = 20_000_000
_cache: dict[tuple[int, int, int], Population] = {}


def build_population(inputs: Inputs, scale: int, seed: int) -> Population:
    """Build the population for ``(inputs, scale, seed)``, reusing a recent identical build.

    Populations are read-only once built (runs keep their own state), so reuse is safe and saves
    most of a short run's cost; the cache holds at most ``CACHE_AGENT_BUDGET`` patient agents.
    """
    key = (id(inputs), int(scale), int(seed))
    pop = _cache.get(key)
    if pop is not None and pop.inputs_ref is inputs:
        return pop
    pop = _build(inputs, int(scale), int(seed))
    size = pop.patients.n
    while _cache and sum(p.patients.n for p in _cache.values()) + size > CACHE_AGENT_BUDGET:
        _cache.pop(next(iter(_cache)))
    if size <= CACHE_AGENT_BUDGET:
        _cache[key] = pop
    return pop


def _build(inputs: Inputs, scale: int, seed: int) -> Population:
    c = inputs.constants
    regions = inputs.regions
    rd = stream(seed, STREAM_DOCTORS)
    rp = stream(seed, STREAM_PATIENTS)
    n_regions = len(regions)
    counts = inputs.doctors_by_type  # (R, 4)

    # --- doctors -------------------------------------------------------------------------------
    region = np.repeat(np.arange(n_regions), counts.sum(axis=1)).astype(np.int8)
    kind = np.concatenate([np.repeat(np.arange(4), counts[r]) for r in range(n_regions)]).astype(
        np.int8
    )
    nd = region.size
    salaried = (kind == HEALTH_CENTRE) | (kind == HOSPITAL)
    urban_share = regions["urban_share"].to_numpy(float)
    age60 = rd.random(nd) < c["doctor_age60_share"]
    urban = rd.random(nd) < urban_share[region]
    group = salaried | (rd.random(nd) < c["group_practice_share"])
    client_u = np.where(kind == HOSPITAL, 2.0, rd.random(nd))  # hospital doctors: never clients
    direct_access = (kind == SPECIALIST) & (rd.random(nd) < c["direct_access_share"])
    open_u = rd.random(nd)
    clock = rd.exponential(1.0, nd)
    platform_u = rd.random(nd)

    # --- patients ------------------------------------------------------------------------------
    pop_age = inputs.population_by_age.astype(float)  # (R, 5)
    age_need = np.array([c[f"need_mult_{k}"] for k in AGE_KEYS])
    capable_by_age = np.array([c[f"capable_{k}"] for k in AGE_KEYS])
    n_agents = np.maximum(1, np.rint(pop_age.sum(axis=1) / scale).astype(np.int64))
    block = np.concatenate([[0], np.cumsum(n_agents)])
    npat = int(block[-1])
    idx_t = np.int32 if npat < 2**31 - 1 else np.int64

    p_age = np.empty(npat, dtype=np.int8)
    age_count = np.zeros(len(AGE_KEYS), dtype=np.int64)
    aware_key = np.empty(npat, dtype=np.float64)
    has_mt = np.zeros(npat, dtype=bool)
    pri_start = np.zeros(nd, dtype=np.int64)
    pri_count = np.zeros(nd, dtype=np.int64)
    sec_count = np.zeros(nd, dtype=np.int64)
    sec_rate = np.zeros(nd, dtype=np.float64)
    link_pat, link_known, link_path = [], [], []
    spec_weight = {SPECIALIST: 1.0, HOSPITAL: c["hospital_outpatient_share"]}

    doc_first = np.concatenate([[0], np.cumsum(counts.sum(axis=1))])
    for r in range(n_regions):
        lo, hi, n = int(block[r]), int(block[r + 1]), int(n_agents[r])
        by_age = largest_remainder(n, pop_age[r])
        age_count += by_age
        ages = np.repeat(np.arange(5, dtype=np.int8), by_age)
        rp.shuffle(ages)
        p_age[lo:hi] = ages
        n_mt = int(round(n * (1.0 - c["no_mt_share"])))
        has_mt[lo : lo + n_mt] = True

        docs = np.arange(doc_first[r], doc_first[r + 1])
        mt_docs = docs[(kind[docs] == GP) | (kind[docs] == HEALTH_CENTRE)]
        sizes = _split_sizes(rp, n_mt, np.ones(mt_docs.size))
        pri_count[mt_docs] = sizes
        pri_start[mt_docs] = lo + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        # The key (doctor index + threshold) is sorted along the whole patient array, so the
        # aware prefix of every list is found by one searchsorted; patients without an MT get a
        # key that sits between this region's lists and the next region's.
        aware_key[lo : lo + n_mt] = sorted_uniform_segments(rp, sizes, labels=mt_docs)
        aware_key[lo + n_mt : hi] = (mt_docs[-1] + 1) if mt_docs.size else doc_first[r]

        # links, built in doctor order so each doctor's links are contiguous
        hc_docs = docs[kind[docs] == HEALTH_CENTRE]
        if hc_docs.size == 0:  # fall back to GPs for unscheduled care
            hc_docs = docs[kind[docs] == GP]
        unsched = lo + n_mt + rp.permutation(n - n_mt)
        un_sizes = _split_sizes(rp, n - n_mt, np.ones(hc_docs.size))
        f_docs = docs[second_line(kind[docs])]
        n_follow = int(round(n * c["followup_share"])) if f_docs.size else 0
        f_w = np.array([spec_weight[int(k)] for k in kind[f_docs]])
        f_sizes = _split_sizes(rp, n_follow, f_w)
        f_pat = rp.integers(lo, hi, n_follow)
        f_known = rp.random(n_follow) < c["known_followup_share"]
        f_ref = rp.random(n_follow) < c["referred_share"]

        sec_count[hc_docs] = un_sizes
        sec_count[f_docs] = f_sizes
        # Doctors are ordered by type inside a region, so each type's links form one run:
        # lay the runs out in doctor order and every doctor's links are contiguous.
        f_direct = np.repeat(direct_access[f_docs], f_sizes)
        n_spec = int(f_sizes[kind[f_docs] == SPECIALIST].sum())
        runs = [
            (hc_docs.min(initial=nd), unsched, np.zeros(n - n_mt, bool), np.zeros(n - n_mt, bool)),
            (
                f_docs.min(initial=nd),
                f_pat[:n_spec],
                f_known[:n_spec],
                f_ref[:n_spec] | f_direct[:n_spec],
            ),
            (
                f_docs[kind[f_docs] == HOSPITAL].min(initial=nd),
                f_pat[n_spec:],
                f_known[n_spec:],
                f_ref[n_spec:] | f_direct[n_spec:],
            ),
        ]
        for _, pat, known, path in sorted(runs, key=lambda run: run[0]):
            link_pat.append(pat.astype(idx_t))
            link_known.append(known)
            link_path.append(path)

    sec_start = np.concatenate([[0], np.cumsum(sec_count)[:-1]]).astype(np.int64)
    links = Links(
        patient=np.concatenate(link_pat),
        aware_key=sorted_uniform_segments(rp, sec_count, labels=np.arange(nd)),
        known=np.concatenate(link_known),
        pathway=np.concatenate(link_path),
    )

    p_region = np.repeat(np.arange(n_regions, dtype=np.int8), n_agents)
    under16 = _uniform_below(rp, c["under16_share_of_0_19"], npat)
    under16 &= p_age == 0
    underserved = regions["underserved_share"].to_numpy(float).astype(np.float32)
    desert = _uniform_below(rp, lambda lo, hi: underserved[p_region[lo:hi]], npat)
    patients = Patients(
        region=p_region,
        age=p_age,
        has_mt=has_mt,
        known_mt=_uniform_below(rp, c["known_mt_share"], npat),
        under16=under16,
        desert=desert,
        desert_u=_uniform(rp, npat),
        aware_key=aware_key,
        capable_u=_uniform(rp, npat),
    )

    # --- need rates and weekly volumes ----------------------------------------------------------
    persons_by_region = n_agents.astype(float) * scale
    # relative need of each agent: by age band (sums in blocks, no per-agent array)
    total_need = float(age_count @ age_need) * scale
    gp_rate = c["consultations_per_year_liberal"] * c["gp_share_of_consultations"] / total_need
    pri_need = _segment_sums(lambda lo, hi: age_need[p_age[lo:hi]], npat, pri_start, pri_count)
    sec_need = _segment_sums(
        lambda lo, hi: age_need[p_age[links.patient[lo:hi]]],
        links.patient.size,
        sec_start,
        sec_count,
    )
    spec_need = float(sec_need[kind == SPECIALIST].sum()) * scale
    spec_rate = (
        c["consultations_per_year_liberal"] * (1 - c["gp_share_of_consultations"]) / spec_need
        if spec_need > 0
        else 0.0
    )
    sec_rate[kind == HEALTH_CENTRE] = gp_rate
    sec_rate[second_line(kind)] = spec_rate
    if not np.any(kind == HEALTH_CENTRE):
        sec_rate[kind == GP] = gp_rate

    volume = scale * (gp_rate * pri_need + sec_rate * sec_need) / (365.25 / 7)

    doctors = Doctors(
        region=region,
        kind=kind,
        age60=age60,
        urban=urban,
        group=group,
        client_u=client_u,
        direct_access=direct_access,
        open_u=open_u,
        clock=clock,
        platform_u=platform_u,
        pri_start=pri_start,
        pri_count=pri_count,
        sec_start=sec_start,
        sec_count=sec_count,
        sec_rate=sec_rate,
        volume=volume,
    )
    for part in (doctors, patients, links):  # shared between runs: make it read-only
        for value in vars(part).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
    return Population(
        doctors=doctors,
        patients=patients,
        links=links,
        scale=scale,
        persons_by_region=persons_by_region,
        age_need=age_need,
        gp_rate=float(gp_rate),
        capable_by_age=capable_by_age,
        inputs_ref=inputs,
    )
