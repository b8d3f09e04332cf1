"""Key layout and landing-zone safety, without Dagster."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from riskassets.sot.landing import LocalLanding, MissingObjectError, list_complete_batches
from riskassets.sot.layout import BatchRef, UnsafeKeyError, parse_batch_key


@pytest.mark.parametrize(
    "key",
    [
        "snapshots/../../etc/x",
        "snapshots/torus/../../etc/META.json",
        "snapshots/torus/2025-08-01/195/../../../../etc/passwd",
        "snapshots/Torus/2025-08-01/195/META.json",
        "snapshots/torus/2025-13-01/195/META.json",
        "snapshots/torus/2025-08-01/0/META.json",
        "snapshots/torus/2025-08-01/195/evil.sh",
        "/snapshots/torus/2025-08-01/195/META.json",
        "other/torus/2025-08-01/195/META.json",
    ],
)
def test_keys_outside_the_layout_are_not_batches(key):
    assert parse_batch_key(key) is None


def test_a_layout_key_parses():
    batch, file = parse_batch_key("snapshots/torus/2025-08-01/195/alerts.parquet")
    assert batch == BatchRef("torus", dt.date(2025, 8, 1), 195) and file == "alerts.parquet"


@pytest.mark.parametrize(
    "key", ["snapshots/../../etc/x", "../x", "/etc/passwd", "a//b", "a/./b", ""]
)
def test_local_landing_never_leaves_its_root(tmp_path, key):
    (tmp_path / "secret").write_text("outside")
    zone = LocalLanding(tmp_path / "root")
    with pytest.raises(UnsafeKeyError):
        zone.read(key)
    with pytest.raises(UnsafeKeyError):
        zone.write(key, b"x")
    assert (tmp_path / "secret").read_text() == "outside"


def test_a_symlink_out_of_the_root_is_refused(tmp_path):
    (tmp_path / "secret").write_text("outside")
    root = tmp_path / "root"
    (root / "snapshots").mkdir(parents=True)
    os.symlink(tmp_path / "secret", root / "snapshots" / "link")
    with pytest.raises(ValueError, match="outside the landing root"):
        LocalLanding(root).read("snapshots/link")


def test_missing_object(tmp_path):
    with pytest.raises(MissingObjectError, match="snapshots/x"):
        LocalLanding(tmp_path).read("snapshots/x")


def test_only_batches_with_meta_are_complete_and_stray_keys_are_ignored(tmp_path):
    zone = LocalLanding(tmp_path)
    zone.write("snapshots/torus/2025-08-01/195/alerts.parquet", b"x")
    zone.write("snapshots/torus/2025-08-01/195/META.json", b"{}")
    zone.write("snapshots/torus/2025-08-02/195/alerts.parquet", b"x")  # upload in progress
    zone.write("snapshots/torus/2025-08-03/30/META.json", b"{}")  # another window
    zone.write("snapshots/torus/notadate/195/META.json", b"{}")
    zone.write("snapshots/torus/2025-08-04/195/nested/META.json", b"{}")
    zone.write("snapshots/bittensor/2025-08-01/195/META.json", b"{}")
    found = list_complete_batches(zone, "torus", 195)
    assert [f.batch for f in found] == [BatchRef("torus", dt.date(2025, 8, 1), 195)]
