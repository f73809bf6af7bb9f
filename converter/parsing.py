"""Raw log -> parsed table (one row per line, with its Drain3 template).

A line is read as bytes and decoded as UTF-8 with replacement characters, so binary or
mis-encoded logs never stop the parse. Lines are split at ``\\n`` only; a line holding nothing
but ASCII whitespace is skipped, and ``line_id`` keeps the 1-based physical line number.
Lines with fewer fields than the format's header are skipped too (the C engine does the same).

Drain3 tokenises on ASCII whitespace here (not Python's wider ``str.split``), so every template
is the line's content with runs of ASCII whitespace collapsed and parameters replaced by ``<*>``:
exactly what converter.matching (and the C engine) match against.
"""

from __future__ import annotations

import configparser
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig

from converter import atomic
from converter.errors import AlogError, first_line
from converter.logformats import (
    ASCII_WS,
    HEADER_PATTERNS,
    YEARLESS_FORMATS,
    ascii_tokens,
    detect_format,
    header_fields_of,
    monotone_years,
    read_header,
    read_log_text,
)

DEFAULT_CONFIG = Path(__file__).with_name("drain3.ini")
META_FORMAT = b"alog.log_format"
META_HEADER_FIELDS = b"alog.header_fields"
REQUIRED_COLUMNS = ("line_id", "content", "template_id", "template", "timestamp")


def read_log_lines(log_path: str | Path) -> list[tuple[int, str]]:
    """(1-based physical line number, decoded text) of every non-blank line."""
    text = read_log_text(log_path)
    return [(i, line) for i, line in enumerate(text.split("\n"), start=1) if line.strip(ASCII_WS)]


def load_miner_config(config_path: str | Path | None = None) -> TemplateMinerConfig:
    """Drain3 settings from an ini file, refusing settings that would break literal matching."""
    path = Path(config_path) if config_path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise AlogError(f"Drain3 config not found: {path}")
    config = TemplateMinerConfig()
    try:
        config.load(str(path))
    except (configparser.Error, ValueError, SyntaxError, KeyError, TypeError) as exc:
        # json / ast / re errors are ValueError or SyntaxError subclasses.
        raise AlogError(f"bad Drain3 config {path}: {first_line(exc)}") from None
    if config.drain_extra_delimiters:
        raise AlogError(f"bad Drain3 config {path}: extra_delimiters is not supported (templates must stay literal)")
    if (config.mask_prefix, config.mask_suffix) != ("<", ">") or any(
        mi.mask_with != "*" for mi in config.masking_instructions
    ):
        raise AlogError(f"bad Drain3 config {path}: masks must render as <*> (mask_with \"*\", prefix <, suffix >)")
    return config


def _new_miner(config: TemplateMinerConfig) -> TemplateMiner:
    miner = TemplateMiner(persistence_handler=None, config=config)
    # Same tokenisation as the matcher and the C engine: ASCII whitespace only.
    miner.drain.get_content_as_tokens = ascii_tokens
    return miner


def parse_log(log_path, out_path, config_path=None, fmt: str = "auto") -> dict:
    """Mine templates from ``log_path`` and write the parsed table to ``out_path`` (parquet)."""
    started = time.perf_counter()
    if fmt != "auto":
        header_fields_of(fmt)  # refuse an unknown format before any work
    config = load_miner_config(config_path)
    lines = read_log_lines(log_path)
    if not lines:
        raise AlogError(f"log file is empty (no non-blank line): {log_path}")
    if fmt == "auto":
        fmt = detect_format(text for _, text in lines)
    header_fields = header_fields_of(fmt)
    if fmt in HEADER_PATTERNS and not any(HEADER_PATTERNS[fmt].match(text) for _, text in lines):
        raise AlogError(f"no line of {log_path} has a {fmt} header; check --format (or use --format raw)")

    rows = [(line_id, h) for line_id, text in lines if (h := read_header(text, fmt)) is not None]
    if not rows:
        raise AlogError(f"no line of {log_path} has the {header_fields} header fields of format {fmt}")

    miner = _new_miner(config)
    cluster_ids = [miner.add_log_message(h.content)["cluster_id"] for _, h in rows]
    # Second pass: templates keep generalising while mining, so look each cluster's final one up.
    final = {cid: cluster.get_template() for cid, cluster in miner.drain.id_to_cluster.items()}

    timestamps = [h.timestamp for _, h in rows]
    if fmt in YEARLESS_FORMATS:
        timestamps = monotone_years(timestamps)
    columns = {
        "line_id": pa.array([lid for lid, _ in rows], pa.int64()),
        "content": pa.array([h.content for _, h in rows], pa.string()),
        "template_id": pa.array(cluster_ids, pa.int64()),
        "template": pa.array([final[c] for c in cluster_ids], pa.string()),
        "timestamp": pa.array([np.nan if t is None else t for t in timestamps], pa.float64()),
    }
    if fmt == "bgl":
        columns["label"] = pa.array([h.label for _, h in rows], pa.int8())
    if fmt == "hdfs":
        columns["session"] = pa.array([h.session for _, h in rows], pa.string())
    table = pa.table(columns).replace_schema_metadata(
        {META_FORMAT: fmt.encode(), META_HEADER_FIELDS: str(header_fields).encode()}
    )
    write_table(table, out_path)
    return {
        "log": str(log_path),
        "out": str(out_path),
        "format": fmt,
        "header_fields": header_fields,
        "lines": len(rows),
        "skipped": len(lines) - len(rows),
        "templates": len(final),
        "seconds": round(time.perf_counter() - started, 3),
    }


def write_table(table: pa.Table, out_path) -> None:
    """Write a parquet table atomically; a bad destination is a one-line error."""
    out_path = Path(out_path)
    if out_path.is_dir():
        raise AlogError(f"output path {out_path} is a directory")
    try:
        with atomic.atomic_path(out_path) as tmp:
            pq.write_table(table, tmp)
    except OSError as exc:
        raise AlogError(f"cannot write {out_path}: {exc.strerror or exc}") from None


def read_parquet(path, what: str) -> pa.Table:
    """A parquet table, or one clear line saying why not."""
    path = Path(path)
    if not path.is_file():
        raise AlogError(f"{what} not found: {path}")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise AlogError(f"not a parquet table: {path} ({first_line(exc)})") from None


def read_parsed(path) -> pd.DataFrame:
    """The parsed table, with ``attrs['log_format']`` and ``attrs['header_fields']``."""
    path = Path(path)
    table = read_parquet(path, "parsed table")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise AlogError(f"{path} is not a parsed log table: missing column(s) {', '.join(missing)}")
    meta = table.schema.metadata or {}
    if META_FORMAT not in meta or META_HEADER_FIELDS not in meta:
        raise AlogError(f"{path} lacks the log format metadata; re-create it with `alog-detect parse`")
    frame = table.to_pandas()
    frame.attrs["log_format"] = meta[META_FORMAT].decode()
    try:
        frame.attrs["header_fields"] = int(meta[META_HEADER_FIELDS])
    except ValueError:
        raise AlogError(f"{path} has a malformed header field count in its metadata") from None
    return frame
