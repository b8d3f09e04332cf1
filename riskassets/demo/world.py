"""The demo world: addresses, their hidden class, what each day shows of them, and the exact
posterior of the label given what is shown (the hidden truth).

The generative model, fixed per (network, seed, scale), is built so that the Bayes-optimal
probability of every alert's label is computable exactly:

- a fixed set of *slots* (index i), each with a role (eoa, exchange, mixer, defi, contract)
  shown exactly by the SOT flags ``is_exchange_like``, ``is_mixer_like`` and
  ``is_contract_like``, and nuisance habits (activity, presence, time of day).
- a service slot keeps one address for ever; an eoa slot is used by one address for
  LIFETIME_DAYS days, then by a fresh one (its owner moves on), at a phase of its own, so
  that new addresses appear every day. Each address (identity) has a hidden class ``y``
  (illicit or not) drawn with a prior that depends on the role only, and a persistent offset
  ``u`` (N(0, PERSISTENT_VAR) per signal component).
- every day a slot is *active* (has flows in the window) with a probability of its own that
  does not depend on ``y``; an active address has a feature row that day.
- each active day an address shows a signal vector ``s = m[role] + d * y + u + e``, ``e``
  fresh daily noise (N(0, DAILY_VAR)). Each component is shown exactly, through a monotone
  transform, by one SOT feature column (SIGNAL_COLUMNS); nothing else in the batch depends on
  ``y`` except through these values.
- alerts are drawn among the active addresses with weights that depend on what is shown
  (the signals, the role) and on nuisances (activity, the address's age). Each alert's
  typology, severity, confidence and risk indicators are drawn given ``y`` and the role from
  known distributions.
- money flows, clusters and every other column depend on shown values and nuisance draws.
- labels cover a share of the addresses chosen without regard to ``y``, are created a delay
  after the address first appears that does not depend on ``y``, and state ``y`` flipped with
  probability LABEL_NOISE. Which addresses carry a label therefore tells nothing of ``y``.

Then, for an address alerted on day D (its own label aside, which is what is predicted):

- ``p_day``: P(label = 1 | day D's batch) = ε + (1 − 2ε) · σ(logit prior[role] + Σ_k LLR_k(s_k)
  + Σ over its alerts of D of the alert LLRs), with LLR_k(s) = d_k (s − m_k − d_k/2) /
  (PERSISTENT_VAR + DAILY_VAR).
- ``p_history``: the same given every batch of the days D − HISTORY_DAYS … D (from the first
  published day on, and since the address appeared): the signals enter through their mean s̄
  over the n active days, LLR_k = d_k (s̄ − m_k − d_k/2) / (PERSISTENT_VAR + DAILY_VAR / n),
  and the alerts of all those days add their LLRs.

Both are exact up to the float32 rounding of the shown columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import log_ndtr

from riskassets.demo.tables import DAY_MS, midnight_ms, rng, sigmoid
from riskassets.sot import schema

ROLES = ("eoa", "exchange", "mixer", "defi", "contract")
EOA, EXCHANGE, MIXER, DEFI, CONTRACT = range(5)
ROLE_SUBTYPES = {
    EOA: ("", "", "personal_wallet", "hot_wallet"),
    EXCHANGE: ("cex_hot_wallet", "cex_deposit", "dex_router"),
    MIXER: ("coinjoin", "tumbler", ""),
    DEFI: ("lending_pool", "amm_pool", "bridge"),
    CONTRACT: ("token", "multisig", ""),
}
# P(illicit | role). defi and contract share everything: the SOT shows them as one flag.
PRIOR = np.array([0.045, 0.01, 0.5, 0.03, 0.03])

# The daily signal: one row per component, (column, transform) in SIGNAL_COLUMNS.
SIGNAL_SHIFT = np.array([0.75, 0.6, 0.65, 0.5, 0.5, 0.35, 0.4, 0.3])  # d_k: illicit minus licit
PERSISTENT_VAR = 0.45  # var(u): what stays with an address from day to day
DAILY_VAR = 0.55  # var(e): what a day adds
# m[role, k]: where each role sits on each component, whatever its class.
ROLE_OFFSET = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # eoa
        [-0.4, 0.9, -0.3, 0.6, -0.8, 0.5, -0.5, 0.3],  # exchange
        [0.8, 0.6, 0.2, 0.4, 0.5, 0.3, 0.3, 0.4],  # mixer
        [-0.2, 0.4, -0.4, 0.2, -0.3, 0.2, -0.2, 0.1],  # defi
        [-0.2, 0.4, -0.4, 0.2, -0.3, 0.2, -0.2, 0.1],  # contract
    ]
)
# How each component is shown: the SOT column and a monotone map of the signal onto it.
SIGNAL_COLUMNS = (
    ("behavioral_anomaly_score", lambda s: sigmoid(1.2 * s - 1.4)),
    ("graph_anomaly_score", lambda s: sigmoid(1.1 * s - 1.6)),
    ("structuring_score", lambda s: sigmoid(s - 1.2)),
    ("burst_factor", lambda s: 1.0 + np.exp(0.7 * s - 0.3)),
    ("counterparty_stability", lambda s: sigmoid(0.9 - s)),
    ("flow_reciprocity_entropy", lambda s: sigmoid(0.8 * s - 0.2)),
    ("amount_predictability", lambda s: sigmoid(0.6 - 0.9 * s)),
    ("outlier_score", lambda s: sigmoid(s - 1.5)),
)
K = len(SIGNAL_SHIFT)
# The detector that raises alerts looks at what is shown: its score weighs the components.
DETECTOR_WEIGHTS = np.array([0.5, 0.35, 0.4, 0.25, 0.25, 0.1, 0.2, 0.15])
DETECTOR_SLOPE = 1.1

HISTORY_DAYS = 30  # p_history: the address's batches of D - 30 ... D
LIFETIME_DAYS = 30  # an eoa slot's address is used this long, then a fresh one takes over
EPOCH0 = dt.date(2020, 1, 1)  # where the slots' lifetimes are counted from
YOUTH_BOOST, YOUTH_DAYS = 8.0, 7.0  # a new address alerts more in its first days
# Labels: a share of the addresses, created a delay after the address appears (median
# LABEL_DELAY_DAYS), stating the class with LABEL_NOISE of it flipped. The snapshot holds the
# labels of the addresses of the current and the previous lifetime of each slot.
LABELLED_SHARE = 0.5
LABEL_DELAY_DAYS = 2.5
LABEL_NOISE = 0.02
TWO_LABEL_SHARE = 0.1

TYPOLOGIES = schema.TYPOLOGIES
# Typology: softmax(base + slope * y), mixers raise mixer_interaction whatever their class.
TYPOLOGY_BASE = np.array([-0.9, -0.4, 0.0, -1.2, 1.0, 1.0, -0.3, 0.5])
TYPOLOGY_SLOPE = np.array([1.0, 0.7, 0.5, 1.1, -0.4, -0.3, 0.3, 0.0])
MIXER_TYPOLOGY_BOOST = 3.0  # added to mixer_interaction for mixers
# Severity: ordered probit on SEVERITY_SLOPE * y + TYPOLOGY_SEVERITY[typology] + N(0, 1).
SEVERITY_SLOPE = 0.8
TYPOLOGY_SEVERITY = np.array([0.5, 0.3, 0.3, 0.6, -0.2, -0.2, 0.1, 0.0])
SEVERITY_CUTS = np.array([-np.inf, -0.2, 1.0, 2.0, np.inf])
# Confidence: logit(confidence) ~ N(CONFIDENCE_BASE + CONFIDENCE_SLOPE * y, 1).
CONFIDENCE_BASE, CONFIDENCE_SLOPE = 0.2, 0.6
RISK_INDICATORS = (
    "high_velocity",
    "mixer_exposure",
    "sanctioned_counterparty",
    "structuring_amounts",
    "new_address",
    "night_activity",
    "round_amounts",
    "peel_pattern",
    "high_volume",
    "many_counterparties",
)
INDICATOR_BASE = np.array([-1.2, -2.4, -3.2, -1.8, -1.5, -1.8, -1.4, -2.4, -0.8, -0.6])
INDICATOR_SLOPE = np.array([0.5, 1.0, 1.2, 0.7, 0.4, 0.5, 0.2, 0.9, 0.0, -0.2])
ILLICIT_LABELS = ("scam", "phishing", "sanctioned", "ransomware", "darknet_market", "hack")
BENIGN_LABELS = {
    EOA: ("individual", "merchant", "mining_pool", "payment_processor"),
    EXCHANGE: ("exchange",),
    MIXER: ("privacy_service",),
    DEFI: ("defi_protocol", "bridge"),
    CONTRACT: ("smart_contract", "token_contract"),
}
LABEL_SOURCES = ("ofac", "chain_analytics_vendor", "internal_review", "community_report")
TRUST_LEVELS = ("verified", "high", "medium", "low", "")


@dataclass(frozen=True)
class Scale:
    """How big the demo world is. ``flows_per_day`` is the target size of one day's
    money_flows (window edges), ``alerts_per_day`` the rows of alerts.parquet."""

    name: str
    n_addresses: int
    alerts_per_day: int
    flows_per_day: int

    @property
    def n_mixers(self) -> int:
        return max(3, self.n_addresses // 2000)

    @property
    def n_exchanges(self) -> int:
        return max(5, self.n_addresses // 1000)


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("small", 9_000, 300, 10_000),
        Scale("demo", 60_000, 2_000, 60_000),
        Scale("medium", 1_000_000, 100_000, 2_000_000),
        Scale("large", 10_000_000, 1_000_000, 20_000_000),
    )
}


def resolve_scale(scale: Scale | str) -> Scale:
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}") from None


@dataclass(frozen=True, eq=False)
class World:
    """The slots of one (network, seed, scale) and what is fixed about them (nuisance only)."""

    network: str
    seed: int
    scale: Scale
    role: np.ndarray
    subtype: np.ndarray  # index into ROLE_SUBTYPES[role]
    renews: np.ndarray  # an eoa slot: a fresh address every LIFETIME_DAYS
    phase: np.ndarray  # where in its lifetime the slot starts (days)
    activity: np.ndarray  # relative rate of sending
    popularity: np.ndarray  # relative rate of receiving
    presence: np.ndarray  # probability of being active on a day
    night: np.ndarray  # night-time habits
    weekend: np.ndarray
    community: np.ndarray

    @property
    def n(self) -> int:
        return len(self.role)


EVM_NETWORKS = {"ethereum", "polygon", "bsc", "arbitrum", "optimism", "base", "avalanche"}


def _address_strings(generator: np.random.Generator, network: str, n: int) -> pa.Array:
    if network in EVM_NETWORKS:
        prefix, alphabet, length = "0x", "0123456789abcdef", 40
    elif network in {"bitcoin", "litecoin"}:
        prefix, alphabet, length = "bc1q", "qpzry9x8gf2tvdw0s3jn54khce6mua7l", 38
    else:  # substrate-style SS58
        prefix = "5"
        alphabet, length = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 47
    table = np.frombuffer(alphabet.encode(), np.uint8)
    body = np.empty((n, len(prefix) + length), np.uint8)
    body[:, : len(prefix)] = np.frombuffer(prefix.encode(), np.uint8)
    body[:, len(prefix) :] = table[generator.integers(0, len(table), (n, length), dtype=np.uint8)]
    raw = body.view(f"S{body.shape[1]}").ravel()
    strings = pa.array(raw, pa.binary(body.shape[1])).cast(pa.binary()).cast(pa.string())
    if pc.count_distinct(strings).as_py() != n:  # 200+ random bits: never in practice
        raise AssertionError("address collision; use another seed")
    return strings


@lru_cache(maxsize=4)
def world(network: str, seed: int, scale: Scale) -> World:
    n = scale.n_addresses
    g = rng("population", seed, network, n)
    role = np.full(n, EOA, np.int8)
    order = g.permutation(n)
    n_defi, n_contract = max(3, n // 500), n // 33
    cuts = np.cumsum([scale.n_mixers, scale.n_exchanges, n_defi, n_contract])
    role[order[: cuts[0]]] = MIXER
    role[order[cuts[0] : cuts[1]]] = EXCHANGE
    role[order[cuts[1] : cuts[2]]] = DEFI
    role[order[cuts[2] : cuts[3]]] = CONTRACT
    n_sub = np.array([len(ROLE_SUBTYPES[r]) for r in range(len(ROLES))])
    subtype = (g.random(n) * n_sub[role]).astype(np.int8)
    activity = g.lognormal(0.0, 1.0, n)
    activity *= np.select(
        [role == EXCHANGE, role == DEFI, role == MIXER, role == CONTRACT],
        [60.0, 12.0, 4.0, 2.0],
        1.0,
    )
    popularity = activity**0.8 * np.select(
        [role == EXCHANGE, role == DEFI, role == MIXER], [40.0, 8.0, 2.0], 1.0
    )
    # Services are active every day; other addresses on some days.
    presence = np.where(role == EOA, g.beta(2.0, 3.0, n), 1.0)
    return World(
        network=network,
        seed=seed,
        scale=scale,
        role=role,
        subtype=subtype,
        renews=role == EOA,
        phase=g.integers(0, LIFETIME_DAYS, n),
        activity=activity,
        popularity=popularity,
        presence=presence,
        night=g.random(n) < 0.15,
        weekend=g.random(n) < 0.2,
        community=g.integers(0, max(4, n // 150), n).astype(np.uint32),
    )


SERVICE_EPOCH = -1  # the one lifetime of a service slot


@dataclass(frozen=True, eq=False)
class Identities:
    """The addresses of every slot in one lifetime (epoch): hidden class, persistent offset,
    and what any label of the address says and when it is created."""

    epoch: int
    addresses: pa.Array
    illicit: np.ndarray
    persistent: np.ndarray  # (n, K)
    birth_ms: np.ndarray
    level: np.ndarray  # risk level of its labels: 0 low … 3 critical
    name: np.ndarray  # the label's name
    confidence: np.ndarray
    trust: np.ndarray
    source: np.ndarray
    label_ms: np.ndarray  # when its label is created; -1: never labelled
    second: np.ndarray  # a second label of another kind: its level, -1 for none
    second_ms: np.ndarray


def _birth_ms(w: World, epoch: int) -> np.ndarray:
    if epoch == SERVICE_EPOCH:
        return np.full(w.n, midnight_ms(EPOCH0) - 3 * 365 * DAY_MS, np.int64)
    days = epoch * LIFETIME_DAYS - w.phase
    return midnight_ms(EPOCH0) + days.astype(np.int64) * DAY_MS


@lru_cache(maxsize=4)
def identities(w: World, epoch: int) -> Identities:
    g = rng("identities", w.seed, w.network, w.scale.n_addresses, epoch)
    n, role = w.n, w.role
    illicit = g.random(n) < PRIOR[role]
    persistent = g.normal(0.0, np.sqrt(PERSISTENT_VAR), (n, K))
    risky = illicit ^ (g.random(n) < LABEL_NOISE)
    level = np.where(risky, 2 + (g.random(n) < 0.45), (g.random(n) < 0.25)).astype(np.int8)
    pick = g.integers(0, 60, n)
    names = np.array(
        [
            ILLICIT_LABELS[k % len(ILLICIT_LABELS)]
            if bad
            else BENIGN_LABELS[r][k % len(BENIGN_LABELS[r])]
            for bad, r, k in zip(risky.tolist(), role.tolist(), pick.tolist(), strict=True)
        ],
        dtype=object,
    )
    birth = _birth_ms(w, epoch)
    labelled = g.random(n) < LABELLED_SHARE
    delay = (g.lognormal(np.log(LABEL_DELAY_DAYS), 1.0, n) * DAY_MS).astype(np.int64)
    label_ms = np.where(labelled, birth + delay, -1)
    # A second label of another kind, which never changes the most severe level: risky
    # addresses may also carry a harmless-looking label (an exchange deposit address that a
    # sanctions list names); harmless ones get the other harmless level.
    two = labelled & (g.random(n) < TWO_LABEL_SHARE)
    conflict = (level >= 2) & (g.random(n) < 0.5)
    second = np.where(level >= 2, np.where(conflict, 0, 5 - level), 1 - level)
    second_delay = (g.lognormal(np.log(30), 0.8, n) * DAY_MS).astype(np.int64)
    return Identities(
        epoch=epoch,
        addresses=_address_strings(g, w.network, n),
        illicit=illicit,
        persistent=persistent,
        birth_ms=birth,
        level=level,
        name=names,
        confidence=np.round(g.beta(6, 2, n), 4),
        trust=g.integers(0, len(TRUST_LEVELS), n),
        source=np.where(risky, g.integers(0, 2, n), g.integers(1, len(LABEL_SOURCES), n)),
        label_ms=label_ms,
        second=np.where(two, second, -1).astype(np.int8),
        second_ms=np.where(two, label_ms + second_delay, -1),
    )


def second_label_name(first: str, level: int) -> str:
    if level >= 2:
        return "sanctioned" if first != "sanctioned" else "scam"
    if level == 1:
        return "high_volume"
    return "exchange" if first != "exchange" else "merchant"


def epochs(w: World, day: dt.date) -> np.ndarray:
    """Which lifetime each slot is in on ``day``."""
    days = (day - EPOCH0).days
    return np.where(w.renews, (days + w.phase) // LIFETIME_DAYS, SERVICE_EPOCH)


@dataclass(frozen=True, eq=False)
class Population:
    """Every slot's address on one day, gathered from the lifetimes in use."""

    epoch: np.ndarray
    addresses: pa.Array
    illicit: np.ndarray
    persistent: np.ndarray
    birth_ms: np.ndarray


@lru_cache(maxsize=3)
def population(w: World, day: dt.date) -> Population:
    epoch = epochs(w, day)
    used = np.unique(epoch)
    batches = {int(e): identities(w, int(e)) for e in used}
    which = np.searchsorted(used, epoch)

    def gather(field: str) -> np.ndarray:
        stacked = np.stack([getattr(batches[int(e)], field) for e in used])
        return stacked[which, np.arange(w.n)]

    texts = pa.chunked_array([batches[int(e)].addresses for e in used]).combine_chunks()
    return Population(
        epoch=epoch,
        addresses=texts.take(pa.array(which * w.n + np.arange(w.n))),
        illicit=gather("illicit"),
        persistent=gather("persistent"),
        birth_ms=gather("birth_ms"),
    )


def labels_at(w: World, day: dt.date) -> dict:
    """The labels snapshot of the end of ``day``: every label created by then of the
    addresses of each slot's current and previous lifetime (and of every service), one row
    per (address, label), sorted by address and label."""
    end = midnight_ms(day + dt.timedelta(days=1))
    now = epochs(w, day)
    parts = []
    for epoch in (SERVICE_EPOCH, *range(int(now[w.renews].min()) - 1, int(now.max()) + 1)):
        ids = identities(w, epoch)
        slots = (now - 1 <= epoch) & (epoch <= now)
        for second in (False, True):
            created = ids.second_ms if second else ids.label_ms
            rows = np.flatnonzero(slots & (created >= 0) & (created < end))
            level = (ids.second if second else ids.level)[rows]
            names = ids.name[rows]
            if second:
                names = np.array(
                    [second_label_name(f, lv) for f, lv in zip(names, level.tolist(), strict=True)],
                    dtype=object,
                )
            parts.append(
                {
                    "slot": rows,
                    "label": names,
                    "risk_level": level,
                    "created": created[rows],
                    "confidence": ids.confidence[rows],
                    "trust": ids.trust[rows],
                    "source": ids.source[rows],
                    "address": np.asarray(
                        ids.addresses.take(pa.array(rows, pa.int64())).to_pylist(), dtype=object
                    ),
                }
            )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((merged["label"].astype(str), merged["address"].astype(str)))
    return {k: v[order] for k, v in merged.items()}


# --------------------------------------------------------------------------- one day


@dataclass(frozen=True, eq=False)
class DayAlerts:
    addr: np.ndarray  # slots
    typology: np.ndarray
    severity: np.ndarray  # 0 low … 3 critical
    confidence: np.ndarray
    indicators: np.ndarray  # (alerts, len(RISK_INDICATORS)) bool
    pattern: np.ndarray  # pattern number, -1 for none
    ts: np.ndarray
    ids: pa.Array


@dataclass(frozen=True, eq=False)
class DaySignals:
    """What one day shows of the world: its addresses, who is active, their signals, the
    day's alerts."""

    day: dt.date
    population: Population
    active: np.ndarray  # (n,) bool
    signal: np.ndarray  # (n, K): s of every slot (shown only where active)
    alerts: DayAlerts

    def shown(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The SOT columns that show the signal, for slots ``rows``."""
        return {
            column: np.asarray(transform(self.signal[rows, k]), np.float32)
            for k, (column, transform) in enumerate(SIGNAL_COLUMNS)
        }


def _role_logits(role: np.ndarray) -> np.ndarray:
    """Typology logits per alert for y = 0 and y = 1: shape (2, alerts, typologies)."""
    base = np.broadcast_to(TYPOLOGY_BASE, (len(role), len(TYPOLOGIES))).copy()
    base[:, 3] += np.where(role == MIXER, MIXER_TYPOLOGY_BOOST, 0.0)
    return np.stack([base, base + TYPOLOGY_SLOPE])


@lru_cache(maxsize=2)
def day_signals(w: World, day: dt.date) -> DaySignals:
    """The day's draws, shared by the batch of that day and by the truth of later days."""
    g = rng("signals", w.seed, w.network, w.scale.n_addresses, day.isoformat())
    n = w.n
    pop = population(w, day)
    end = midnight_ms(day + dt.timedelta(days=1))
    active = g.random(n) < w.presence
    signal = (
        ROLE_OFFSET[w.role]
        + SIGNAL_SHIFT * pop.illicit[:, None]
        + pop.persistent
        + g.normal(0.0, np.sqrt(DAILY_VAR), (n, K))
    )
    # The detector sees the shown signal; new addresses alert more in their first days.
    age_days = (end - pop.birth_ms) / DAY_MS
    youth = 1.0 + YOUTH_BOOST * np.exp(-np.maximum(age_days, 0) / YOUTH_DAYS)
    detector = signal @ DETECTOR_WEIGHTS
    weight = w.activity**0.3 * youth * np.exp(DETECTOR_SLOPE * detector) * active
    a = w.scale.alerts_per_day
    addr = g.choice(n, a, p=weight / weight.sum())
    y = pop.illicit[addr].astype(np.int64)
    logits = _role_logits(w.role[addr])[y, np.arange(a)]
    gumbel = -np.log(-np.log(g.random((a, len(TYPOLOGIES)))))
    typology = np.argmax(logits + gumbel, axis=1)
    latent = SEVERITY_SLOPE * y + TYPOLOGY_SEVERITY[typology] + g.standard_normal(a)
    severity = np.searchsorted(SEVERITY_CUTS[1:-1], latent)
    confidence = sigmoid(CONFIDENCE_BASE + CONFIDENCE_SLOPE * y + g.standard_normal(a))
    indicators = g.random((a, len(RISK_INDICATORS))) < sigmoid(
        INDICATOR_BASE + INDICATOR_SLOPE * y[:, None]
    )
    pool = max(2, a // 40)
    pattern = np.where(g.random(a) < 0.5, typology * pool + g.integers(0, pool, a), -1)
    ts = end - DAY_MS + g.integers(0, DAY_MS, a)
    stamp = day.strftime("%Y%m%d")
    ids = pa.array([f"{w.network}_{stamp}_a{i:07d}" for i in range(a)], pa.string())
    alerts = DayAlerts(
        addr, typology, severity, confidence.astype(np.float32), indicators, pattern, ts, ids
    )
    return DaySignals(day, pop, active, signal, alerts)


# --------------------------------------------------------------------------- the truth


def alert_llr(w: World, alerts: DayAlerts) -> np.ndarray:
    """log P(alert | y = 1) − log P(alert | y = 0) for each alert."""
    a = len(alerts.addr)
    rows = np.arange(a)
    logits = _role_logits(w.role[alerts.addr])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    llr = log_softmax[1, rows, alerts.typology] - log_softmax[0, rows, alerts.typology]

    def log_severity(y: int) -> np.ndarray:
        mean = SEVERITY_SLOPE * y + TYPOLOGY_SEVERITY[alerts.typology]
        upper = SEVERITY_CUTS[alerts.severity + 1] - mean
        lower = SEVERITY_CUTS[alerts.severity] - mean
        # log(Φ(upper) − Φ(lower)), stable in both tails.
        return log_ndtr(upper) + np.log1p(-np.exp(np.minimum(log_ndtr(lower) - log_ndtr(upper), 0)))

    llr += log_severity(1) - log_severity(0)
    conf = np.clip(alerts.confidence.astype(np.float64), 1e-12, 1 - 1e-12)
    x = np.log(conf / (1 - conf))
    llr += CONFIDENCE_SLOPE * (x - CONFIDENCE_BASE - CONFIDENCE_SLOPE / 2)
    p1, p0 = sigmoid(INDICATOR_BASE + INDICATOR_SLOPE), sigmoid(INDICATOR_BASE)
    ind = alerts.indicators
    llr += (ind * np.log(p1 / p0) + ~ind * np.log((1 - p1) / (1 - p0))).sum(axis=1)
    return llr


def signal_llr(role: np.ndarray, mean_signal: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The signals' log-likelihood ratio for addresses seen on ``days`` active days with
    mean signal ``mean_signal`` (n, K): exact for the persistent + daily noise model."""
    variance = PERSISTENT_VAR + DAILY_VAR / np.maximum(days, 1)[:, None]
    centred = mean_signal - ROLE_OFFSET[role] - SIGNAL_SHIFT / 2
    return (SIGNAL_SHIFT * centred / variance).sum(axis=1) * (days > 0)


def _label_probability(logit: np.ndarray) -> np.ndarray:
    return LABEL_NOISE + (1 - 2 * LABEL_NOISE) * sigmoid(logit)


class Timeline:
    """Each address's evidence over the last HISTORY_DAYS days (from ``first_day`` on): the
    sum of its signals, its active days and its alerts' LLRs. A slot whose address changes
    starts again from nothing.

    Advanced one day at a time, it adds the new day and removes the day that leaves the
    window (recomputed: cheaper than keeping the days' signals in memory).
    """

    def __init__(self, w: World, first_day: dt.date | None):
        self.w, self.first_day = w, first_day
        self.sums = np.zeros((w.n, K))
        self.days = np.zeros(w.n)
        self.alerts = np.zeros(w.n)
        self.epoch = np.full(w.n, np.iinfo(np.int64).min)
        self.start: dt.date | None = None  # the window is [start, end]
        self.end: dt.date | None = None

    def _window_start(self, day: dt.date) -> dt.date:
        start = day - dt.timedelta(days=HISTORY_DAYS)
        return max(start, self.first_day) if self.first_day is not None else start

    def _add(self, day: dt.date) -> None:
        seen = day_signals(self.w, day)
        renewed = seen.population.epoch != self.epoch
        self.sums[renewed], self.days[renewed], self.alerts[renewed] = 0.0, 0.0, 0.0
        self.epoch = seen.population.epoch
        self.sums[seen.active] += seen.signal[seen.active]
        self.days += seen.active
        self.alerts += np.bincount(
            seen.alerts.addr, weights=alert_llr(self.w, seen.alerts), minlength=self.w.n
        )

    def _remove(self, day: dt.date) -> None:
        seen = day_signals(self.w, day)
        same = (seen.population.epoch == self.epoch).astype(np.float64)
        active = seen.active & (same > 0)
        self.sums[active] -= seen.signal[active]
        self.days -= active
        llr = np.bincount(
            seen.alerts.addr, weights=alert_llr(self.w, seen.alerts), minlength=self.w.n
        )
        self.alerts -= llr * same

    def advance_to(self, day: dt.date) -> None:
        one = dt.timedelta(days=1)
        start = self._window_start(day)
        if self.end is None or self.end >= day or self.end < start - one:
            self.__init__(self.w, self.first_day)  # not a continuation: start again
            self.start, self.end = start, start - one
        while self.end < day:
            self.end += one
            self._add(self.end)
        while self.start < start:
            self._remove(self.start)
            self.start += one


def truth(w: World, day: dt.date, timeline: Timeline) -> dict[str, np.ndarray]:
    """Per alert of ``day``: the exact posteriors of its label given the day's batch
    (``p_day``) and given the batches of the last HISTORY_DAYS days up to it (``p_history``,
    from ``timeline``, which is advanced to ``day``); and of its address's hidden class
    (``p_illicit_day``, ``p_illicit_history``), which the label states with noise."""
    today = day_signals(w, day)
    addr = today.alerts.addr
    prior = np.log(PRIOR / (1 - PRIOR))[w.role[addr]]
    by_address = np.bincount(addr, weights=alert_llr(w, today.alerts), minlength=w.n)
    one_day = signal_llr(w.role[addr], today.signal[addr], np.ones(len(addr)))

    timeline.advance_to(day)
    days = np.rint(timeline.days[addr])  # the sums are of exact ±1 steps
    mean = timeline.sums[addr] / np.maximum(days, 1)[:, None]
    history_logit = prior + signal_llr(w.role[addr], mean, days) + timeline.alerts[addr]
    day_logit = prior + one_day + by_address[addr]
    return {
        "p_day": _label_probability(day_logit),
        "p_history": _label_probability(history_logit),
        "p_illicit_day": sigmoid(day_logit),
        "p_illicit_history": sigmoid(history_logit),
        "history_days": days,
    }
