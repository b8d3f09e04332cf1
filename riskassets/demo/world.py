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
- labels (``LabelSettings``) state ``y`` flipped with probability LABEL_NOISE. Who carries
  one and when it is created depend only on nuisances: under ``uniform`` a share of the
  addresses chosen without regard to anything, under ``alerted`` a share tilted toward the
  slots whose activity and presence make them alert more (``alert_propensity``, which leaves
  out the signals), labelled sooner too. The label is created a lognormal delay after the
  address's *first appearance*: the start of the first day it is active, i.e. of its first
  feature row. Not its first alert: which day that is depends on the signals and so on ``y``
  (an illicit address alerts sooner), and a label clock started by it would make "labelled by
  T" tell of ``y`` beyond what the batches show. The first alert follows the first appearance
  by a few days (on the small world a median 2, a mean about 5 for the addresses that alert:
  the detector must pick the address, youth makes it likelier early), so labels follow first
  alerts by that much less than the setting, and short delays often label an address before
  its first alert, as sanctions lists do.

Why which addresses carry a label tells nothing of ``y`` beyond the batches: given the shown
values, the likelihood of any set of days' batches is a product of a factor in ``y`` and ``u``
and a factor in the nuisances (activity, presence, the days' activity draws, birth; the role
is shown): the detector's weights, for one, are a nuisance times a function of the shown
signals.
So given what the batches show, ``y`` and the nuisances are independent, and the label
process uses only nuisances (first appearance, alert propensity) and its own fresh draws; the
truth below is therefore also the posterior of the label on the rows that carry one, at any
date.

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
from scipy.special import log_ndtr, ndtr

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
# Labels: a share of the addresses, created a lognormal delay (mean LabelSettings.
# mean_delay_days, shape LABEL_DELAY_SIGMA) after the address first appears, stating the class
# with LABEL_NOISE of it flipped. The snapshot holds the labels of the addresses of each slot's
# current lifetime and of as many earlier ones as the slowest labels need (label_lifetimes).
LABELLED_SHARE = 0.5
DEFAULT_LABEL_DELAY_DAYS = 10.0
LABEL_DELAY_SIGMA = 1.0
LABELLING_RULES = ("uniform", "alerted")
# "alerted": logit P(labelled) and log(delay) move with the standardised log alert propensity
# z by these slopes (a slot one sd busier: odds of a label x e, delay x 1/e^0.5).
ALERTED_LABEL_TILT = 1.0
ALERTED_DELAY_TILT = 0.5
LABEL_KEEP_QUANTILE = 0.99  # labels slower than this quantile of the delays may go unpublished
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


@dataclass(frozen=True)
class LabelSettings:
    """How labels arrive: the mean delay in days from an address's first appearance to its
    label (lognormal, shape LABEL_DELAY_SIGMA) and who is labelled, ``labelling`` in
    LABELLING_RULES. Hashable: the functions that depend on it take it as an argument, so it
    is part of their cache keys (label_rates, label_rows); the world, its addresses and its
    days (world, identities, population, day_signals) do not depend on it."""

    mean_delay_days: float = DEFAULT_LABEL_DELAY_DAYS
    labelling: str = "uniform"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mean_delay_days) and self.mean_delay_days > 0):
            raise ValueError(
                f"the mean label delay must be a positive number of days "
                f"(got {self.mean_delay_days!r})"
            )
        if self.labelling not in LABELLING_RULES:
            raise ValueError(
                f"unknown labelling {self.labelling!r}; expected one of {list(LABELLING_RULES)}"
            )


@dataclass(frozen=True, eq=False)
class Identities:
    """The addresses of every slot in one lifetime (epoch): hidden class, persistent offset,
    what any label of the address says, and the label process's own draws (whether and when
    the label comes is settled with the LabelSettings, in label_rows)."""

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
    label_draw: np.ndarray  # U(0, 1): labelled where below the slot's label probability
    delay_draw: np.ndarray  # N(0, 1): the noise of the label's lognormal delay
    second: np.ndarray  # a second label of another kind, if labelled: its level, -1 for none
    second_delay_ms: np.ndarray  # how long after the first label the second comes


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
    # The label process's draws; like every draw here they take the same places in the stream
    # whatever the LabelSettings, so the addresses and the batches do not move with them.
    label_draw = g.random(n)
    delay_draw = g.standard_normal(n)
    # A second label of another kind, which never changes the most severe level: risky
    # addresses may also carry a harmless-looking label (an exchange deposit address that a
    # sanctions list names); harmless ones get the other harmless level.
    two = g.random(n) < TWO_LABEL_SHARE
    conflict = (level >= 2) & (g.random(n) < 0.5)
    second = np.where(level >= 2, np.where(conflict, 0, 5 - level), 1 - level)
    second_delay = (g.lognormal(np.log(30), 0.8, n) * DAY_MS).astype(np.int64)
    return Identities(
        epoch=epoch,
        addresses=_address_strings(g, w.network, n),
        illicit=illicit,
        persistent=persistent,
        birth_ms=_birth_ms(w, epoch),
        level=level,
        name=names,
        confidence=np.round(g.beta(6, 2, n), 4),
        trust=g.integers(0, len(TRUST_LEVELS), n),
        source=np.where(risky, g.integers(0, 2, n), g.integers(1, len(LABEL_SOURCES), n)),
        label_draw=label_draw,
        delay_draw=delay_draw,
        second=np.where(two, second, -1).astype(np.int8),
        second_delay_ms=second_delay,
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


def _day_stream(w: World, day: dt.date) -> np.random.Generator:
    """The draws of ``day``: who is active (``_active``) first, then the rest of day_signals."""
    return rng("signals", w.seed, w.network, w.scale.n_addresses, day.isoformat())


def _active(g: np.random.Generator, w: World) -> np.ndarray:
    return g.random(w.n) < w.presence


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


@lru_cache(maxsize=16)
def first_seen_ms(w: World, epoch: int) -> np.ndarray:
    """When each address of lifetime ``epoch`` first appears: the start of the first day it
    is active, the day of its first feature row (the same draws as day_signals: nuisance
    only). An address never active in its lifetime never appears and counts from its birth;
    so do the services, present since long before any published day."""
    birth = _birth_ms(w, epoch)
    if epoch == SERVICE_EPOCH:
        return birth
    death = birth + LIFETIME_DAYS * DAY_MS
    first = np.full(w.n, -1, np.int64)
    origin = midnight_ms(EPOCH0)
    for start in range(int(birth.min()), int(death.max()), DAY_MS):
        alive = (first < 0) & (birth <= start) & (start < death)
        if alive.any():
            day = EPOCH0 + dt.timedelta(days=(start - origin) // DAY_MS)
            first[alive & _active(_day_stream(w, day), w)] = start
    return np.where(first >= 0, first, birth)


def alert_propensity(w: World) -> np.ndarray:
    """How often a slot alerts whatever its class: its presence times activity^0.3, the
    factors of the detector's weight (day_signals) that carry no ``y``; the signals, which
    do, stay out, and so does youth, the same for every address of the same age."""
    return w.presence * w.activity**0.3


def _logit_offset(x: np.ndarray, target: float) -> float:
    """The ``a`` for which sigmoid(a + x) has mean ``target`` (bisection: it is monotone)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(mid + x).mean() < target else (lo, mid)
    return (lo + hi) / 2


@lru_cache(maxsize=8)
def label_rates(w: World, settings: LabelSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per slot: the probability that its address is labelled and the median of its label
    delay in days. Both are functions of nuisances only (``alert_propensity``), never of
    ``y``. Over the eoa slots, the labelled share is LABELLED_SHARE and a labelled address's
    delay has mean ``settings.mean_delay_days`` (mean = median · exp(σ²/2)), whatever the rule.
    """
    eoa = w.renews
    if settings.labelling == "uniform":
        share, relative = np.full(w.n, LABELLED_SHARE), np.ones(w.n)
    else:  # "alerted": busier slots are labelled more often, and sooner
        log_p = np.log(alert_propensity(w))
        z = (log_p - log_p[eoa].mean()) / log_p[eoa].std()
        tilt = ALERTED_LABEL_TILT * z
        share = sigmoid(_logit_offset(tilt[eoa], LABELLED_SHARE) + tilt)
        relative = np.exp(-ALERTED_DELAY_TILT * z)
    scale = share[eoa].sum() / (share[eoa] * relative[eoa]).sum()
    median = settings.mean_delay_days * np.exp(-(LABEL_DELAY_SIGMA**2) / 2) * scale * relative
    return share, median


def label_lifetimes(w: World, settings: LabelSettings) -> int:
    """How many lifetimes before its current one a slot's labels stay in the snapshot: enough
    for all but the slowest 1 − LABEL_KEEP_QUANTILE of the labels (an address appears within
    its lifetime, so a label d days late needs ceil(d / LIFETIME_DAYS) of them), at least 1."""
    share, median = label_rates(w, settings)
    weight = share[w.renews] / share[w.renews].sum()
    log_median = np.log(median[w.renews])

    def below(log_days: float) -> float:  # the share of labelled addresses' delays below
        return float(weight @ ndtr((log_days - log_median) / LABEL_DELAY_SIGMA))

    lo, hi = float(log_median.min()) - 10.0, float(log_median.max()) + 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if below(mid) < LABEL_KEEP_QUANTILE else (lo, mid)
    return max(1, int(np.ceil(np.exp(hi) / LIFETIME_DAYS)))


@dataclass(frozen=True, eq=False)
class LabelRows:
    """Every label of the addresses of one lifetime, first and second kinds: one row per
    (address, label), whenever it is created."""

    slot: np.ndarray
    label: np.ndarray
    risk_level: np.ndarray
    created: np.ndarray
    confidence: np.ndarray
    trust: np.ndarray
    source: np.ndarray
    address: np.ndarray


def label_ms(w: World, epoch: int, settings: LabelSettings) -> np.ndarray:
    """When each address of lifetime ``epoch`` gets its (first) label, epoch ms; -1: never."""
    ids = identities(w, epoch)
    share, median = label_rates(w, settings)
    delay = median * np.exp(LABEL_DELAY_SIGMA * ids.delay_draw)
    created = first_seen_ms(w, epoch) + (delay * DAY_MS).astype(np.int64)
    return np.where(ids.label_draw < share, created, -1)


@lru_cache(maxsize=16)
def label_rows(w: World, epoch: int, settings: LabelSettings) -> LabelRows:
    ids = identities(w, epoch)
    created = label_ms(w, epoch, settings)
    labelled = created >= 0
    first = np.flatnonzero(labelled)
    second = np.flatnonzero(labelled & (ids.second >= 0))
    slot = np.concatenate([first, second])
    second_names = [
        second_label_name(f, lv)
        for f, lv in zip(ids.name[second].tolist(), ids.second[second].tolist(), strict=True)
    ]
    return LabelRows(
        slot=slot,
        label=np.concatenate([ids.name[first], np.array(second_names, dtype=object)]),
        risk_level=np.concatenate([ids.level[first], ids.second[second]]),
        created=np.concatenate([created[first], created[second] + ids.second_delay_ms[second]]),
        confidence=ids.confidence[slot],
        trust=ids.trust[slot],
        source=ids.source[slot],
        address=np.asarray(ids.addresses.take(pa.array(slot, pa.int64())).to_pylist(), object),
    )


def labels_at(w: World, day: dt.date, settings: LabelSettings) -> dict:
    """The labels snapshot of the end of ``day``: every label created by then of the
    addresses of each slot's current lifetime and its label_lifetimes previous ones (and of
    every service), one row per (address, label), sorted by address and label."""
    end = midnight_ms(day + dt.timedelta(days=1))
    now = epochs(w, day)
    back = label_lifetimes(w, settings)
    parts = []
    for epoch in (SERVICE_EPOCH, *range(int(now[w.renews].min()) - back, int(now.max()) + 1)):
        rows = label_rows(w, epoch, settings)
        current = now[rows.slot]
        keep = (current - back <= epoch) & (epoch <= current) & (rows.created < end)
        parts.append({field: getattr(rows, field)[keep] for field in _LABEL_FIELDS})
    merged = {k: np.concatenate([p[k] for p in parts]) for k in _LABEL_FIELDS}
    order = np.lexsort((merged["label"].astype(str), merged["address"].astype(str)))
    return {k: v[order] for k, v in merged.items()}


_LABEL_FIELDS = tuple(LabelRows.__dataclass_fields__)


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
    g = _day_stream(w, day)
    n = w.n
    pop = population(w, day)
    end = midnight_ms(day + dt.timedelta(days=1))
    active = _active(g, w)
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
