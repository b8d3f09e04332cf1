"""The demo generator's labels: how long after an address first appears they come (a mean
set by ``label_delay_days``), who gets them (``labelling``), and that neither tells of the
hidden class beyond what the batches show (modeling.md, "Labels" and "The demo generator")."""

from __future__ import annotations

import datetime as dt
import inspect

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from scipy.special import ndtr

from riskassets import cli
from riskassets.demo import batch_files, generate_day, parquet_bytes, publish, window_bounds, world
from riskassets.demo.publish import labels_table
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import labels_key

NETWORK = "torus"
DAY = dt.date(2025, 8, 1)
WINDOW = 30
DAY_MS = 86_400_000
SIGMA = world.LABEL_DELAY_SIGMA


def small_world() -> world.World:
    return world.world(NETWORK, 7, world.resolve_scale("small"))


def observe(settings: world.LabelSettings, days: int) -> pl.DataFrame:
    """``days`` published days from DAY, one row per eoa address born in them that appears:
    the day index of its first appearance (its first feature row: the day's active
    addresses), of its first alert and its alert count (alerts.parquet lists the day's
    alerts), and the creation of its first label in the last day's published labels
    snapshot (null: none visible). Which addresses were born in the range is hidden truth:
    the batches cannot tell a newcomer from an address that was idle before DAY."""
    w = small_world()
    frames = []
    for k in range(days):
        seen = world.day_signals(w, DAY + dt.timedelta(days=k))
        born = w.renews & (seen.population.birth_ms >= window_bounds(DAY, 1)[0])
        active = np.flatnonzero(seen.active & born)
        alerted = seen.alerts.addr[born[seen.alerts.addr]]
        for kind, slots in (("seen", active), ("alert", alerted)):
            frames.append(
                pl.DataFrame(
                    {
                        "address": seen.population.addresses.take(pa.array(slots, pa.int64())),
                        "kind": [kind] * len(slots),
                        "day": np.full(len(slots), k, np.int64),
                    }
                )
            )
    events = pl.concat(frames)
    last = DAY + dt.timedelta(days=days - 1)
    labels = pl.from_arrow(labels_table(w, last, WINDOW, window_bounds(last, WINDOW)[1], settings))
    first_label = labels.group_by("address").agg(pl.col("created_timestamp").min().alias("created"))
    seen = (
        events.filter(pl.col("kind") == "seen")
        .group_by("address")
        .agg(pl.col("day").min().alias("first_seen"))
    )
    alerts = (
        events.filter(pl.col("kind") == "alert")
        .group_by("address")
        .agg(pl.col("day").min().alias("first_alert"), pl.len().alias("alerts"))
    )
    start = window_bounds(DAY, 1)[0]
    return (
        seen.join(alerts, on="address", how="left")
        .join(first_label, on="address", how="left")
        .with_columns(
            ((pl.col("created") - start) / DAY_MS - pl.col("first_seen")).alias("delay"),
            ((pl.col("created") - start) / DAY_MS - pl.col("first_alert")).alias("from_alert"),
            (days - pl.col("first_seen")).alias("horizon"),  # days until the snapshot's end
        )
    )


def truncated_mean(mean: float, horizon: np.ndarray) -> tuple[float, float]:
    """For lognormal delays of ``mean`` (shape SIGMA), one per address with ``horizon`` days
    to the end of the last published day: the expected mean of the delays that are visible
    (those below their horizon), and the expected share of them that are visible."""
    mu = np.log(mean) - SIGMA**2 / 2
    log_c = np.log(horizon)
    visible = ndtr((log_c - mu) / SIGMA)
    partial = mean * ndtr((log_c - mu - SIGMA**2) / SIGMA)  # E[delay; delay < c]
    return partial.sum() / visible.sum(), visible.mean()


def test_what_observe_reads_is_what_the_batches_show():
    """observe reads the days from the world, cheaply: the day's active addresses are the
    rows of features.parquet, its alerts those of alerts.parquet, and the labels are the
    published snapshot's."""
    settings = world.LabelSettings(10.0, "alerted")
    batch = generate_day(
        NETWORK, DAY, scale="small", window_days=WINDOW, label_delay_days=10, labelling="alerted"
    )
    seen = world.day_signals(small_world(), DAY)
    addresses = seen.population.addresses
    assert (
        batch.features["address"].to_pylist() == addresses.filter(pa.array(seen.active)).to_pylist()
    )
    assert (
        batch.alerts["address"].to_pylist()
        == addresses.take(pa.array(seen.alerts.addr)).to_pylist()
    )
    w1 = window_bounds(DAY, WINDOW)[1]
    assert batch.address_labels.equals(labels_table(small_world(), DAY, WINDOW, w1, settings))


# --------------------------------------------------------------------------- the mean delay


# The days published for each mean: enough that the visible delays still say the mean (a
# mean 20% off is beyond the tolerance), few enough for a quick test.
DAYS_FOR_MEAN = {2.0: 15, 10.0: 30, 30.0: 40}


@pytest.mark.parametrize("mean", sorted(DAYS_FOR_MEAN))
def test_published_labels_come_the_set_mean_after_first_appearance(mean: float):
    """Labels later than the last published day are not in its snapshot (right-censoring):
    the visible delays are compared with their expectation under the setting, each address
    censored at its own horizon. Tolerance: 4 standard errors of the visible mean (about
    3% of it); a setting 20% off either way is shown to fall beyond it."""
    obs = observe(world.LabelSettings(mean, "uniform"), DAYS_FOR_MEAN[mean])
    horizon = obs["horizon"].to_numpy().astype(np.float64)
    delay = obs["delay"].drop_nulls().to_numpy()
    # A label comes after its address first appears, never before.
    assert delay.min() > 0
    expected, visible = truncated_mean(mean, horizon)
    tolerance = 4 * delay.std() / np.sqrt(len(delay))
    assert abs(delay.mean() - expected) < tolerance, (delay.mean(), expected, tolerance)
    # The test can tell a wrong mean: were it 20% off, the visible mean would sit at least 6
    # standard errors from the expectation and pass only with a 2-sigma fluke (about 2%).
    for wrong in (0.8 * mean, 1.25 * mean):
        assert abs(truncated_mean(wrong, horizon)[0] - expected) > 1.5 * tolerance
    # Half the addresses are labelled, of which the expected share is visible yet.
    share = world.LABELLED_SHARE * visible
    assert abs(len(delay) / len(obs) - share) < 4 * np.sqrt(share * (1 - share) / len(obs))


@pytest.mark.parametrize("labelling", world.LABELLING_RULES)
@pytest.mark.parametrize("mean", sorted(DAYS_FOR_MEAN))
def test_the_world_labels_every_address_the_set_mean_after_it_appears(mean, labelling):
    """Uncensored, from the world's own label times: four lifetimes of eoa addresses
    (about 17,000 labels); tolerance 4 standard errors (about 4% of the mean). Who is
    labelled does not depend on the hidden class (eoa slots share one prior)."""
    w, settings = small_world(), world.LabelSettings(mean, labelling)
    eoa = w.renews
    lifetimes = range(int(world.epochs(w, DAY)[eoa].min()), int(world.epochs(w, DAY).max()) + 3)
    assert len(lifetimes) == 4
    created = np.concatenate([world.label_ms(w, e, settings)[eoa] for e in lifetimes])
    seen = np.concatenate([world.first_seen_ms(w, e)[eoa] for e in lifetimes])
    illicit = np.concatenate([world.identities(w, e).illicit[eoa] for e in lifetimes])
    labelled = created >= 0
    delay = (created - seen)[labelled] / DAY_MS
    assert abs(delay.mean() - mean) < 4 * delay.std() / np.sqrt(len(delay)), delay.mean()
    assert abs(labelled.mean() - world.LABELLED_SHARE) < 0.02
    rate = illicit.mean()
    se = np.sqrt(rate * (1 - rate) * (1 / labelled.sum() + 1 / (~labelled).sum()))
    assert abs(illicit[labelled].mean() - illicit[~labelled].mean()) < 4 * se


# --------------------------------------------------------------------------- who is labelled


@pytest.fixture(scope="module")
def both_rules() -> dict[str, pl.DataFrame]:
    """Twenty published days under each rule (mean delay 10): the same addresses, alerts
    and label noise; only who is labelled and when differs."""
    return {rule: observe(world.LabelSettings(10.0, rule), 20) for rule in world.LABELLING_RULES}


def test_alerted_labelling_labels_frequent_alerters_more_and_sooner(both_rules):
    """Frequent alerters (the top quarter of the addresses that alerted, by their alerts in
    the published days) carry a visible label more often under "alerted" than under
    "uniform", and get it sooner after their first alert; under "alerted" they are labelled
    more often than the other alerted addresses. Both rules share the label draws, so the
    differences are the rules' own, not sampling noise."""
    shares, delays = {}, {}
    for rule, obs in both_rules.items():
        alerted = obs.filter(pl.col("alerts").is_not_null())
        frequent = pl.col("alerts") >= alerted["alerts"].quantile(0.75)
        labelled = pl.col("created").is_not_null()
        shares[rule] = {
            group: alerted.filter(cond)["created"].is_not_null().mean()
            for group, cond in (("frequent", frequent), ("rest", ~frequent))
        }
        delays[rule] = alerted.filter(frequent & labelled)["from_alert"].mean()
    assert shares["alerted"]["frequent"] > shares["uniform"]["frequent"] + 0.05, shares
    assert shares["alerted"]["frequent"] > shares["alerted"]["rest"] + 0.03, shares
    assert delays["alerted"] < delays["uniform"] - 0.3, delays


@pytest.mark.parametrize("labelling", world.LABELLING_RULES)
def test_the_truth_is_the_posterior_on_the_labelled_alerts(labelling: str):
    """Who is labelled by a date tells nothing of the class beyond the batch: among the
    alerts of 30 days whose address has a label in the last day's snapshot, the labels agree
    with p_day on average, within 3 standard errors. A rule that labelled licit addresses
    half as often as illicit ones fails here (z ≈ 4 on these rows; this rule, z < 1)."""
    w, settings, days = small_world(), world.LabelSettings(10.0, labelling), 30
    timeline = world.Timeline(w, DAY)
    frames = []
    for k in range(days):
        day = DAY + dt.timedelta(days=k)
        seen = world.day_signals(w, day)
        frames.append(
            pl.DataFrame(
                {
                    "address": seen.population.addresses.take(pa.array(seen.alerts.addr)),
                    "p_day": world.truth(w, day, timeline)["p_day"],
                }
            )
        )
    last = DAY + dt.timedelta(days=days - 1)
    labels = pl.from_arrow(labels_table(w, last, WINDOW, window_bounds(last, WINDOW)[1], settings))
    label = labels.group_by("address").agg(
        pl.col("risk_level").is_in(["high", "critical"]).any().cast(pl.Float64).alias("label")
    )
    rows = pl.concat(frames).join(label, on="address")
    assert rows.height > 3000
    # Labels minus p_day, summed: zero in expectation; its standard error from the
    # addresses' own sums (an address's alerts share its label).
    residual = rows.with_columns((pl.col("label") - pl.col("p_day")).alias("r"))
    by_address = residual.group_by("address").agg(pl.col("r").sum())["r"].to_numpy()
    z = by_address.sum() / np.sqrt((by_address**2).sum())
    assert abs(z) < 3, (z, rows["label"].mean(), rows["p_day"].mean())


# --------------------------------------------------------------------------- settings


def test_same_seed_and_settings_give_identical_bytes_and_settings_move_only_the_labels():
    """Each setting is part of the labels' cache keys: asking for other settings in
    between does not change what the first ones give, and they give other labels."""

    def run(mean: float, labelling: str) -> tuple[dict[str, bytes], bytes, pa.Table]:
        batch = generate_day(
            NETWORK,
            DAY,
            scale="small",
            window_days=WINDOW,
            label_delay_days=mean,
            labelling=labelling,
        )
        return batch_files(batch), parquet_bytes(batch.address_labels), batch.truth

    files, labels, truth = run(30.0, "alerted")
    other = run(2.0, "alerted")
    assert run(30.0, "alerted")[:2] == (files, labels)
    assert other[1] != labels
    assert other[0] == files  # alerts, features, clusters, flows: the same batch
    assert other[2].equals(truth)
    w, w1 = small_world(), window_bounds(DAY, WINDOW)[1]
    uniform = labels_table(w, DAY, WINDOW, w1, world.LabelSettings(30.0, "uniform"))
    assert parquet_bytes(uniform) != labels


def test_the_default_mean_delay_is_at_least_ten_days():
    defaults = {
        f.__name__: inspect.signature(f).parameters["label_delay_days"].default
        for f in (publish, generate_day)
    }
    assert defaults == {"publish": 10.0, "generate_day": 10.0}
    assert world.LabelSettings().mean_delay_days == world.DEFAULT_LABEL_DELAY_DAYS >= 10
    assert inspect.signature(publish).parameters["labelling"].default == "uniform"
    # The console script leaves both to publish unless given.
    args = cli.build_parser().parse_args(["generate"])
    assert cli._label_options(args) == {}


def test_generate_takes_the_label_flags():
    parse = cli.build_parser().parse_args
    args = parse(["generate", "--label-delay-days", "2.5", "--labelling", "alerted"])
    assert cli._label_options(args) == {"label_delay_days": 2.5, "labelling": "alerted"}
    for bad in (
        ["--labelling", "random"],
        ["--label-delay-days", "0"],
        ["--label-delay-days", "x"],
    ):
        with pytest.raises(SystemExit):
            parse(["generate", *bad])


def test_publish_refuses_bad_label_settings_before_writing(tmp_path):
    zone = LocalLanding(tmp_path)
    with pytest.raises(ValueError, match="labelling"):
        publish(zone, NETWORK, DAY, 1, scale="small", labelling="random", log=lambda *_: None)
    with pytest.raises(ValueError, match="label delay"):
        publish(zone, NETWORK, DAY, 1, scale="small", label_delay_days=0, log=lambda *_: None)
    assert not any(tmp_path.iterdir())


def test_cli_generate_publishes_with_the_label_flags(tmp_path, monkeypatch):
    """The flags reach publish: the landed labels snapshot is the generator's for them."""
    monkeypatch.setenv("RISKASSETS_HOME", str(tmp_path / "home"))
    dest = tmp_path / "landing"
    flags = ["--label-delay-days", "30", "--labelling", "alerted"]
    common = ["--start", DAY.isoformat(), "--scale", "small", "--window-days", str(WINDOW)]
    assert cli.main(["generate", *common, "--dest", str(dest), *flags]) == 0
    landed = LocalLanding(dest).read(labels_key(NETWORK))
    expected = generate_day(
        NETWORK, DAY, scale="small", window_days=WINDOW, label_delay_days=30, labelling="alerted"
    )
    assert landed == parquet_bytes(expected.address_labels)
    assert landed != parquet_bytes(
        generate_day(NETWORK, DAY, scale="small", window_days=WINDOW).address_labels
    )
