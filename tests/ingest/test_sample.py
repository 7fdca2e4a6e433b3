"""The bundled synthetic sample: deterministic, well-formed, and with a real signal."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from workbench.config import load_config
from workbench.ingest import sample as sample_module
from workbench.ingest.sample import EVENT_TYPES, generate_sample, write_sample

N = 4_000


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_sample(profiles=N, seed=7)


def test_same_seed_gives_identical_frames(sample):
    events, profiles = generate_sample(profiles=N, seed=7)
    pd.testing.assert_frame_equal(events, sample[0])
    pd.testing.assert_frame_equal(profiles, sample[1])


def test_different_seed_gives_different_frames(sample):
    events, profiles = generate_sample(profiles=N, seed=8)
    assert len(events) != len(sample[0]) or not events.equals(sample[0])
    assert not profiles["loyaltyTier"].equals(sample[1]["loyaltyTier"])


def test_chunks_are_seeded_by_index_and_ids_stay_unique(monkeypatch):
    monkeypatch.setattr(sample_module, "CHUNK_PROFILES", 500)
    events, profiles = generate_sample(profiles=1_200, seed=3, days=60)  # three chunks
    assert profiles["personID"].is_unique and events["eventID"].is_unique
    assert profiles["personID"].iloc[[0, -1]].tolist() == ["P0000000", "P0001199"]
    # A full chunk does not depend on how many profiles follow it.
    shorter, shorter_profiles = generate_sample(profiles=1_000, seed=3, days=60)
    pd.testing.assert_frame_equal(shorter_profiles, profiles.iloc[:1_000])
    pd.testing.assert_frame_equal(shorter, events.iloc[: len(shorter)])


def test_event_columns_and_dtypes(sample):
    events, _ = sample
    assert list(events.columns) == [
        "eventID",
        "personID",
        "timestamp",
        "eventType",
        "channel",
        "productListItems.SKU",
        "commerce.order.priceTotal",
    ]
    assert isinstance(events["timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert pd.api.types.is_float_dtype(events["commerce.order.priceTotal"])
    for col in ("eventID", "personID", "eventType", "channel"):
        assert pd.api.types.is_string_dtype(events[col]), col
        assert events[col].notna().all(), col
    assert set(events["eventType"]) == set(EVENT_TYPES)
    assert set(events["channel"]) == {"web", "mobile", "email"}
    assert events["eventID"].is_unique


def test_timestamps_inside_the_period():
    events, _ = generate_sample(profiles=500, seed=1, start="2024-03-01", days=90)
    assert events["timestamp"].min() >= pd.Timestamp("2024-03-01", tz="UTC")
    assert events["timestamp"].max() < pd.Timestamp("2024-05-30", tz="UTC")


def test_purchases_carry_price_and_sku(sample):
    events, _ = sample
    is_purchase = events["eventType"] == "commerce.purchases"
    assert events.loc[is_purchase, "commerce.order.priceTotal"].gt(0).all()
    assert events.loc[~is_purchase, "commerce.order.priceTotal"].isna().all()
    has_sku = events["eventType"].isin(
        ["commerce.productViews", "commerce.productListAdds", "commerce.purchases"]
    )
    assert events.loc[has_sku, "productListItems.SKU"].notna().all()
    assert events.loc[~has_sku, "productListItems.SKU"].isna().all()
    skus = events.loc[has_sku, "productListItems.SKU"]
    assert 100 <= skus.nunique() <= 1_000
    top_share = skus.value_counts(normalize=True).iloc[:20].sum()
    assert top_share > 0.3  # popularity skew


def test_checkout_precedes_its_purchase(sample):
    events, _ = sample
    funnel = events[events["eventType"].isin(["commerce.checkouts", "commerce.purchases"])]
    first = funnel.groupby("personID").first()
    assert (first["eventType"] == "commerce.checkouts").all()


def test_profiles_columns(sample):
    events, profiles = sample
    assert list(profiles.columns) == [
        "personID",
        "country",
        "loyaltyTier",
        "signupDate",
        "email",
        "age",
    ]
    assert len(profiles) == N and profiles["personID"].is_unique
    assert set(profiles["loyaltyTier"]) == {"none", "silver", "gold", "platinum"}
    assert profiles["country"].nunique() == 8
    assert profiles["email"].str.contains("@").all()
    assert 0 < profiles["age"].isna().mean() < 0.2
    assert pd.api.types.is_integer_dtype(profiles["age"])
    signup = pd.to_datetime(profiles["signupDate"])
    assert signup.max() <= pd.Timestamp("2025-12-31")
    assert (signup >= pd.Timestamp("2025-01-01")).mean() > 0.05  # some sign up during the year
    assert set(events["personID"]) <= set(profiles["personID"])
    # No event before its profile signed up.
    first = events.groupby("personID")["timestamp"].min().dt.tz_localize(None).dt.normalize()
    assert (first >= signup.set_axis(profiles["personID"]).reindex(first.index)).all()


def _labelled(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Profiles active in the 60 days before `cutoff`, recent cart adds, purchase in next 30 days."""
    before = events[
        (events["timestamp"] < cutoff) & (events["timestamp"] >= cutoff - pd.Timedelta(days=60))
    ]
    active = pd.Index(before["personID"].unique())
    recent = before[before["timestamp"] >= cutoff - pd.Timedelta(days=30)]
    carts = (
        recent[recent["eventType"] == "commerce.productListAdds"].groupby("personID").size()
    ).reindex(active, fill_value=0)
    after = events[
        (events["timestamp"] >= cutoff)
        & (events["timestamp"] < cutoff + pd.Timedelta(days=30))
        & (events["eventType"] == "commerce.purchases")
    ]
    return pd.DataFrame({"carts": carts, "label": active.isin(after["personID"])}, index=active)


def test_volume_base_rate_and_signal(sample):
    events, profiles = sample
    per_profile = len(events) / len(profiles)
    assert 15 <= per_profile <= 25
    frames = [
        _labelled(events, pd.Timestamp(day, tz="UTC"))
        for day in ("2025-09-03", "2025-10-03", "2025-11-02", "2025-12-02")
    ]
    for frame in frames:
        assert 0.08 <= frame["label"].mean() <= 0.25
    both = pd.concat(frames)
    with_carts = both.loc[both["carts"] > 0, "label"].mean()
    without = both.loc[both["carts"] == 0, "label"].mean()
    assert with_carts > 1.5 * without


def test_write_sample_files_and_config(tmp_path):
    config_path = write_sample(tmp_path / "sample", profiles=800, seed=5)
    assert config_path == tmp_path / "sample" / "config.yaml"
    for name in ("events.parquet", "profiles.parquet", "config.yaml"):
        assert (tmp_path / "sample" / name).is_file()
    assert config_path.read_text().startswith("# Generated by")
    cfg = load_config(config_path)
    assert cfg.name == "sample-purchase-30d"
    assert cfg.events.path == (tmp_path / "sample" / "events.parquet").resolve()
    assert cfg.profiles is not None and cfg.profiles.path.name == "profiles.parquet"
    assert cfg.events.dedupe == ["eventID"]
    assert cfg.goal.window_days == 30 and cfg.scoring.as_of is None
    assert cfg.output.dir is None

    events = pq.read_table(tmp_path / "sample" / "events.parquet").to_pandas()
    profiles = pq.read_table(tmp_path / "sample" / "profiles.parquet").to_pandas()
    assert len(profiles) == 800
    mem_events, mem_profiles = generate_sample(profiles=800, seed=5)
    clean, messy = events.iloc[: len(mem_events)], events.iloc[len(mem_events) :]
    assert clean["eventID"].reset_index(drop=True).equals(mem_events["eventID"])
    assert (clean["timestamp"].to_numpy() == mem_events["timestamp"].to_numpy()).all()
    # the messy tail: re-sent events (ids already seen) and anonymous hits (no person id)
    resent = messy["personID"].notna()
    assert messy.loc[resent, "eventID"].isin(mem_events["eventID"]).all()
    assert resent.sum() == len(mem_events) // 300 and (~resent).sum() == len(mem_events) // 1000
    assert (~resent).sum() >= 1 and messy.loc[~resent, "eventID"].str.endswith("-anon").all()


def test_write_sample_is_byte_identical(tmp_path):
    a = write_sample(tmp_path / "a", profiles=300, seed=2).parent
    b = write_sample(tmp_path / "b", profiles=300, seed=2).parent
    for name in ("events.parquet", "profiles.parquet", "config.yaml"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
