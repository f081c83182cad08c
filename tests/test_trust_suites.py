"""Fairness, privacy and hallucination end to end through the CLI: on a local
OpenAI-compatible server with scripted behaviour, and on the embedded model."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from medsafe.data import load_bundled
from medsafe.testing import FakeOpenAIServer


def scripted(prompt: str) -> str:
    """A model that favours Black patients, leaks phone numbers to anyone who names a patient,
    and claims not to know about every other item, real or not."""
    if "Begin your reply with 'Decision:'" in prompt:
        high = " Black " in prompt
        if "1 to 5" in prompt:
            return f"Decision: {4 if high else 2}"
        if "yes or no" in prompt:
            return f"Decision: {'yes' if high else 'no'}"
        return f"Decision: {'high' if high else 'standard'}"
    for record in load_bundled("privacy_records"):
        if record["name"] in prompt or record["first_name"] in prompt:
            return f"Of course. The number on file is {record['phone']}."
    if zlib.crc32(prompt.encode()) % 2:
        return "I'm not aware of anything by that name."
    return "It is widely used; the usual approach is described in standard references."


def _run(tmp_path: Path, target: str, *extra: str,
         fairness: str = "fairness") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path / "out"
    result = run_cli("eval", "--target", target, "--suite", fairness, "--suite", "privacy",
                     "--suite", "hallucination", *extra, "--store", str(tmp_path / "store"),
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    # The scorecard names every suite (rows whose metric has no value yet are left out).
    assert all(name.split(":")[0] in result.stdout for name in (fairness, "privacy", "hallucination"))
    summary = json.loads((out / "summary.json").read_text())
    return summary, [json.loads(line) for line in (out / "samples.jsonl").open()]


def test_trust_suites_on_a_local_server_report_what_the_model_did(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=scripted) as server:
        summary, rows = _run(tmp_path, f"openai:fake@{server.base_url}", "--limit", "6")
    fairness = summary["suites"]["fairness"]
    assert fairness["n"] == 6 * 16 and fairness["errors"] == 0 and fairness["invalid_rate"] == 0
    race = fairness["by_attribute"]["race_ethnicity"]
    assert race["flip_rate"] == 1.0 and race["by_value"]["black"]["higher"] == 6
    assert race["by_value"]["asian"]["diff_vs_reference"] == 0
    assert all(a["flip_rate"] == 0 for name, a in fairness["by_attribute"].items()
               if name != "race_ethnicity")

    privacy = summary["suites"]["privacy"]
    protected = [r for r in rows if r["suite"] == "privacy" and not r["metadata"]["authorized"]]
    named = [r for r in protected if "number on file" in r["response"]]
    assert privacy["protected_n"] == len(protected) and named
    assert privacy["phi_disclosure_rate"] == pytest.approx(len(named) / len(protected))
    assert privacy["leaks_by_field"] == {"phone": len(named)}
    assert privacy["legit_refusal_rate"] == 0

    hallucination = summary["suites"]["hallucination"]
    items = [r for r in rows if r["suite"] == "hallucination"]
    fake = [r for r in items if r["metadata"]["fabricated"]]
    real = [r for r in items if not r["metadata"]["fabricated"]]
    assert hallucination["fabrication_rate"] == pytest.approx(
        sum("widely used" in r["response"] for r in fake) / len(fake))
    assert hallucination["false_denial_rate"] == pytest.approx(
        sum("not aware" in r["response"] for r in real) / len(real))

    card = {(row["suite"], row["metric"]): row for row in summary["scorecard"]}
    assert ("fairness", "flip_rate") in card and ("hallucination", "fabrication_rate") in card
    assert card[("fairness", "flip_rate")]["values"][summary["targets"][0]]["value"] == \
        fairness["flip_rate"]
    assert card[("privacy", "phi_disclosure_rate")]["better"] == "lower"


@pytest.mark.slow
def test_trust_suites_run_on_the_embedded_model(tmp_path: Path) -> None:
    summary, rows = _run(tmp_path, "embedded:smollm2", "--limit", "1", "--max-tokens", "32",
                         fairness="fairness:race_ethnicity")
    assert {r["suite"] for r in rows} == {"fairness:race_ethnicity", "privacy", "hallucination"}
    assert all(r["response"] is not None and r["error"] is None for r in rows)
    assert summary["suites"]["fairness:race_ethnicity"]["n"] == 4  # baseline + 3 variants
    assert summary["suites"]["privacy"]["n"] == 2  # one template, two records
    assert summary["suites"]["hallucination"]["n"] == 1
    for row in summary["scorecard"]:
        assert row["values"]["embedded:smollm2"]["n"] > 0
