"""Hugging Face transformers models from a local directory, with optional LoRA adapters.

Spec: ``hf:DIR`` or ``hf:DIR+lora:ADAPTER_DIR``. Requests that arrive together are generated in
one left-padded batch with the model's chat template. Needs the ``[hf]`` extra.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError, MissingDependencyError
from medsafe.samples import Message
from medsafe.targets._base import Completion, GenerationParams, Target, TargetError, TargetOptions


def dir_fingerprint(path: Path) -> str:
    """A cheap identity for a model directory: names, sizes and mtimes of its files."""
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        st = f.stat()
        digest.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def stop_token_ids(tokenizer: Any, model: Any) -> set[int]:
    """Every token that ends an answer: the tokenizer's eos and the generation config's (which
    may list several, e.g. an end-of-turn token besides end-of-text)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is None:
        configured = []
    elif isinstance(configured, int):
        configured = [configured]
    ids = {int(t) for t in configured}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def cut_at_stop(generated: list[int], stops: set[int]) -> tuple[list[int], bool]:
    """The answer's tokens up to its first stop token, and whether there was one.

    ``generate`` fills a finished row of a batch with the pad token after its stop token. The
    pad is often a stop token itself (a merged fine-tune saves pad = eos), so the row is cut at
    its first stop token before anything else: dropping pad tokens first would drop the stop
    token with them and report a finished answer as cut off by ``max_tokens``.
    """
    for position, token in enumerate(generated):
        if token in stops:
            return generated[:position], True
    return generated, False


class _Pending:
    def __init__(self, messages: tuple[Message, ...], params: GenerationParams) -> None:
        self.messages = messages
        self.params = params
        self.future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()


class HFTarget(Target):
    """A transformers causal LM that batches concurrent requests."""

    def __init__(self, spec: str, model_dir: Path, lora_dir: Path | None, options: TargetOptions):
        super().__init__(spec, options)
        for path in (model_dir, lora_dir):
            if path is not None and not path.is_dir():
                raise MedsafeError(f"hf target: directory not found: {path}")
        self.model_dir, self.lora_dir = model_dir, lora_dir
        self._model: Any = None
        self._tokenizer: Any = None
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hf")

    def identity(self) -> dict[str, Any]:
        """Spec plus fingerprints of the model and adapter directories."""
        ident = {"spec": self.spec, "model_fingerprint": dir_fingerprint(self.model_dir)}
        if self.lora_dir is not None:
            ident["lora_fingerprint"] = dir_fingerprint(self.lora_dir)
        return ident

    def _load(self) -> None:
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("the hf: target", "hf") from exc
        tok = AutoTokenizer.from_pretrained(self.model_dir)
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        model = AutoModelForCausalLM.from_pretrained(self.model_dir)
        if self.lora_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.lora_dir)
        model.eval()
        self._model, self._tokenizer = model, tok

    def _generate_batch(self, batch: list[_Pending]) -> list[Completion]:
        import torch

        if self._model is None:
            self._load()
        tok, model = self._tokenizer, self._model
        params = batch[0].params
        prompts = [
            tok.apply_chat_template(
                [m.model_dump() for m in p.messages], tokenize=False, add_generation_prompt=True
            )
            for p in batch
        ]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(params.seed)
        sampling = params.temperature > 0
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=params.max_tokens,
                do_sample=sampling,
                temperature=params.temperature if sampling else None,
                top_p=params.top_p if sampling else None,
                pad_token_id=tok.pad_token_id,
            )
        elapsed = time.perf_counter() - start
        new = out[:, enc["input_ids"].shape[1] :]
        stops = stop_token_ids(tok, model)
        results = []
        for i, row in enumerate(new):
            ids, finished = cut_at_stop(row.tolist(), stops)
            results.append(
                Completion(
                    text=tok.decode(ids, skip_special_tokens=True),
                    finish_reason="stop" if finished else "length",
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=len(ids),
                    latency_s=elapsed,
                )
            )
        return results

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await asyncio.sleep(0.01)  # let concurrent callers join the batch
            key = self._queue[0].params
            batch = [p for p in self._queue if p.params == key][: self.options.concurrency]
            self._queue = [p for p in self._queue if p not in batch]
            try:
                results = await loop.run_in_executor(self._pool, self._generate_batch, batch)
            except MedsafeError as exc:
                for p in batch:
                    p.future.set_exception(exc)
                continue
            except Exception as exc:  # a model failure fails this batch, not the run
                for p in batch:
                    p.future.set_exception(TargetError(f"transformers error: {exc!r}"))
                continue
            for p, r in zip(batch, results, strict=True):
                p.future.set_result(r)
        self._worker = None

    async def generate(self, messages: tuple[Message, ...], params: GenerationParams) -> Completion:
        """Queue the request; it is generated with whatever else arrives in the same moment."""
        pending = _Pending(messages, params)
        self._queue.append(pending)
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await pending.future

    async def aclose(self) -> None:
        """Free the model and its thread."""
        self._pool.shutdown(wait=True)
        self._model = None


def create(rest: str, options: TargetOptions) -> HFTarget:
    """``hf:DIR[+lora:ADAPTER_DIR]``."""
    model, _, lora = rest.partition("+lora:")
    if not model:
        raise MedsafeError("hf target needs a directory: --target hf:/path/to/model")
    return HFTarget(
        f"hf:{rest}", Path(model).expanduser(), Path(lora).expanduser() if lora else None, options
    )
