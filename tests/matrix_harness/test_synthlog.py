"""The synthetic HDFS log the cells train on: deterministic, in the real layout, parseable."""

from __future__ import annotations

from converter.logformats import HEADER_PATTERNS
from harness.golden import synthlog


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = synthlog.generate(tmp_path / "a.log", blocks=30, seed=1)
    b = synthlog.generate(tmp_path / "b.log", blocks=30, seed=1)
    c = synthlog.generate(tmp_path / "c.log", blocks=30, seed=2)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()


def test_lines_follow_the_hdfs_layout_and_time_order(tmp_path):
    info = synthlog.generate(tmp_path / "s.log", blocks=60, seed=5)
    lines = info.path.read_text().splitlines()
    assert len(lines) == info.lines > 60 * 12
    assert all(HEADER_PATTERNS["hdfs"].match(line) for line in lines)
    stamps = [line[:13] for line in lines]
    assert stamps == sorted(stamps)
    assert info.anomalous_blocks and all(any(b in line for line in lines) for b in info.anomalous_blocks)


def test_drain3_finds_the_real_hdfs_events(tmp_path, loghub):
    import pandas as pd

    from converter.parsing import parse_log

    info = synthlog.generate(tmp_path / "s.log", blocks=80, seed=7)
    parse_log(info.path, tmp_path / "parsed.parquet", fmt="hdfs")
    mined = " | ".join(sorted(set(pd.read_parquet(tmp_path / "parsed.parquet")["template"])))
    real = pd.read_csv(loghub / "HDFS_2k.log_templates.csv")["EventTemplate"]
    # Drain3 masks "ip:port" as one wildcard where the ground truth has two, so compare each real
    # event by its longest run of literal words.
    phrases = [max(t.replace("<*>", "|").split("|"), key=len).strip(" :/.") for t in real]
    found = [p for p in phrases if p in mined]
    assert len(found) >= 12, (sorted(set(phrases) - set(found)), mined)
    assert mined.count(" | ") + 1 <= 20  # and not a flood of near-duplicate templates
