"""Leaderboard columns of open-vocabulary runs: the training regime and the prompt set
(name and the first 8 hex of its hash), read from a unit's record (see :mod:`bench.run.open_vocab`)."""

from __future__ import annotations

OV_METRICS = {
    "ov-coco": ["AP50_novel", "AP50_base", "AP50_all", "AP", "AP50"],
    "ov-lvis": ["AP", "APr", "APc", "APf", "AP50"],
}


def training_cell(rec: dict) -> str:
    """The regime ("zero-shot", ...), "?" when no source states it."""
    return ((rec.get("training_regime") or {}).get("regime")) or "?"


def prompt_cell(rec: dict) -> str:
    """``name (hash8)`` of the prompt set an open-vocabulary unit used; "" for closed vocabularies."""
    p = rec.get("prompt_set") or {}
    return f"{p.get('name')} ({str(p.get('hash'))[:8]})" if p.get("name") else ""


OV_TITLES = {"training": "Training", "prompt_set": "Prompt set", "AP50_novel": "AP50 novel", "AP50_base": "AP50 base", "AP50_all": "AP50 all (65)"}


def ov_columns(sub) -> list[str]:
    """The training and prompt-set columns, for a dataset table where any row has one."""
    cols = []
    if (sub["training"] != "?").any() or (sub["prompt_set"] != "").any():
        cols.append("training")
    if (sub["prompt_set"] != "").any():
        cols.append("prompt_set")
    return cols


def load_suites(run) -> list[dict]:
    """The ``suite-<name>.json`` summaries of a run folder (``bench run --dataset SUITE``)."""
    from pathlib import Path

    from bench.jsonio import load_json

    out = []
    for p in sorted(Path(run).glob("suite-*.json")):
        s = load_json(p)
        s["rows"] = [{"member": m, "status": r["status"], s["metric"]: r["value"], "_flag": "" if r["status"] == "ok" else "failed"}
                     for m, r in s["members"].items()]  # fmt: skip
        out.append(s)
    return out


def suites_markdown(summaries: list[dict]) -> str:
    """One table per suite: each member's value, then the mean and median (or why there is none)."""
    from bench.report.fmt import cell

    lines = []
    for s in summaries:
        m = s["metric"]
        lines += [f"## Suite {s['suite']} ({m}; {s['scored']} of {s['of']} members scored)", "", f"| member | status | {m} |", "|---|---|---|"]
        lines += [f"| {name} | {r['status']} | {cell('AP', r['value'])} |" for name, r in s["members"].items()]
        if s["complete"]:
            lines += [f"| **mean** | | {cell('AP', s['mean'])} |", f"| **median** | | {cell('AP', s['median'])} |"]
        else:
            lines += [f"| mean / median | incomplete: not the suite's | {cell('AP', s['partial_mean'])} / {cell('AP', s['partial_median'])} (scored members only) |"]
        lines.append("")
    return "\n".join(lines)
