"""Shared fixtures (the repository's paths, the compiled BDA price book) and the test profiles.

Two profiles, chosen by the environment variable `RATECARD_PROFILE`:

- `quick` (the default, the README's test command): every property (a Hypothesis test) runs a
  tenth of the examples its `@settings` asks for, at least 3, so that each property of each
  module still runs, fast enough for a change-test loop;
- `long` (CI's slow run, `.ci/run`): every property runs three fifths of the examples its
  `@settings` asks for, at least 10 (CI's whole run must stay under ten minutes on two cores;
  each run draws new examples).

Independently, pyproject's `addopts` leaves out the tests marked `spark` (a local Spark session)
and `slow`: big inputs and runs, too slow for a change-test loop (each marked `@pytest.mark.slow`
where it is defined). CI runs them after the default run:

    RATECARD_PROFILE=long python -m pytest -m "(slow or hypothesis) and not spark"
    RATECARD_PROFILE=long python -m pytest -m spark
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, is_hypothesis_test, settings

import ratecard
from ratecard.engine.pricebook import PriceBook

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
BDA_RULES = RULES / "tencent-bda.rules"

PROFILES = ("quick", "long")
PROFILE = os.environ.get("RATECARD_PROFILE") or "quick"
if PROFILE not in PROFILES:
    raise pytest.UsageError(f"RATECARD_PROFILE={PROFILE}: use one of {', '.join(PROFILES)}")
#: The quick profile's share of each property's examples (1 in QUICK_SHARE), and its floor.
QUICK_SHARE = 10
QUICK_FLOOR = 3
#: The long profile's share of each property's examples (LONG_PARTS in LONG_WHOLE), and its
#: floor.
LONG_PARTS, LONG_WHOLE = 3, 5
LONG_FLOOR = 10

# A property without its own `max_examples` gets the profile's.
_COMMON = settings(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("long", _COMMON, max_examples=100)
settings.register_profile("quick", _COMMON, max_examples=100 // QUICK_SHARE)
settings.load_profile(PROFILE)


#: Tests of big inputs (a million lines, megabytes of text, thousands of meters, forked
#: workers): marked `slow`, run by CI's slow run, left out of the default one.
def quick_examples(written: int) -> int:
    """The examples a property that asks for `written` runs in the quick profile."""
    return min(written, max(QUICK_FLOOR, math.ceil(written / QUICK_SHARE)))


def long_examples(written: int) -> int:
    """The examples a property that asks for `written` runs in the long profile."""
    return min(written, max(LONG_FLOOR, math.ceil(written * LONG_PARTS / LONG_WHOLE)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Cut every property's examples to the profile's share (`quick_examples`,
    `long_examples`)."""
    share = quick_examples if PROFILE == "quick" else long_examples
    done: set[int] = set()
    for item in items:
        test = getattr(item, "obj", None)
        if not is_hypothesis_test(test) or id(test) in done:
            continue
        done.add(id(test))
        # Where @given keeps the test's settings (read when the test runs).
        written: settings = test._hypothesis_internal_use_settings  # type: ignore[union-attr]
        test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
            written, max_examples=share(written.max_examples))


@pytest.fixture(autouse=True)
def _no_colour_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests compare the command line's plain output: a `FORCE_COLOR` (or `NO_COLOR`) in the
    shell that runs them must not change it. Tests of colour set what they test."""
    for name in ("FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def bda() -> PriceBook:
    """The shipped Tencent Cloud Body Analysis price book."""
    return ratecard.load(BDA_RULES)


#: The test session's JVM: Spark's queries here are many and small, so the JVM's first compiler
#: alone (C1) and the serial collector spare the time the optimising compiler and the parallel
#: collector spend on a 2-core machine; neither changes what a query computes.
SPARK_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session (2 cores) for every Spark test of the run (skipped, saying why,
    without pyspark or Java)."""
    pytest.importorskip("pyspark",
                        reason="pyspark is not installed (pip install -e '.[dev,spark]')")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (17): `java` is not on the PATH")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("ratecard-tests")
        .config("spark.driver.extraJavaOptions", SPARK_JAVA_OPTIONS)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
