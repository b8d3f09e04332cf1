"""`riskassets evaluate` on the session's demo: model-scored rows, unseen by their scorer."""

from __future__ import annotations

import pytest

from riskassets.evaluation.report import scored_days, targets
from riskassets.sot.landing import LocalLanding
from riskassets_tests.helpers import AS_OF, SCORED

pytestmark = pytest.mark.slow


def test_scored_days_are_judged_on_addresses_unlabelled_at_their_model_cut_off(demo):
    zone = LocalLanding(demo.root)
    by_model = scored_days(demo.client, zone, "torus", 195, None, *SCORED)
    at_as_of = scored_days(demo.client, zone, "torus", 195, AS_OF, *SCORED)
    # The scorer of days 17 and 18 was fitted as of day 16: the same cut-off, the same rows.
    assert by_model["models_as_of"] == [AS_OF.isoformat()]
    assert by_model["rows"] == at_as_of["rows"] > 0
    ((labelled,),) = demo.client.query(
        "SELECT count() FROM alert_scores WHERE processing_date BETWEEN {a:Date} AND {b:Date} "
        "AND address IN (SELECT address FROM address_labels_at(network = 'torus', "
        "known_at = {d:Date}))",
        parameters={"a": SCORED[0], "b": SCORED[1], "d": AS_OF},
    ).result_rows
    ((everything,),) = demo.client.query(
        "SELECT count() FROM alert_scores WHERE processing_date BETWEEN {a:Date} AND {b:Date}",
        parameters={"a": SCORED[0], "b": SCORED[1]},
    ).result_rows
    assert labelled > 0 and by_model["rows"] == everything - labelled
    names = [t[0] for t in targets(by_model)]
    assert names == ["pr_auc", "brier", "ndcg_at_50"]
