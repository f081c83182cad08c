"""The encoder judge's transformer read as features of a request, for the guard's request screen.

The screen's word model learns the phrasing of its training requests; requests written in
another style (terse third-party ones) slip past it. The encoder judge's network was fine-tuned
to read what an exchange is about, so its hidden states carry meaning that survives a change of
wording. This module runs the shipped ``model.onnx`` on ``[CLS] request [SEP] [SEP]`` (the
request with an empty answer, as the judge was trained to read) and returns the mean of the last
layer over the tokens together with the pooled ``[CLS]`` vector: 768 numbers per request.

ONNX Runtime gives only a graph's declared outputs, so the two inner tensors are declared as
outputs on a copy of the graph in memory; the judge's file is left as it is. A screen trained
on these features records the model's SHA-256 and refuses to load against another model.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from medsafe.errors import MedsafeError, MissingDependencyError
from medsafe.judges.encoder import PairEncoder, asset_dir, cpu_session
from medsafe.targets.gguf import sha256_of

HIDDEN = "/inner/bert/encoder/layer.5/output/LayerNorm/LayerNormalization_output_0"
POOLED = "/inner/bert/pooler/activation/Tanh_output_0"
BATCH = 32


class RequestEncoder:
    """Request features from the encoder judge's network."""

    def __init__(self, session: Any, encoder: PairEncoder, model_sha256: str) -> None:
        self.session = session
        self.encoder = encoder
        self.model_sha256 = model_sha256
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def load(cls, folder: Path | None = None, threads: int = 1) -> RequestEncoder:
        """Open the encoder of ``folder`` (the shipped one by default) with the two inner
        tensors exposed. One thread: the guard scores one short request at a time."""
        try:
            import onnx
        except ImportError as exc:
            raise MissingDependencyError("reading requests through the encoder", "guard-train"
                                         ) from exc
        model_path = (folder or asset_dir()) / "model.onnx"
        if not model_path.is_file():
            raise MedsafeError(f"the encoder model is missing ({model_path}): reinstall medsafe")
        graph = onnx.load(str(model_path))
        produced = {out for node in graph.graph.node for out in node.output}
        missing = [name for name in (HIDDEN, POOLED) if name not in produced]
        if missing:
            raise MedsafeError(f"{model_path} has no tensor {missing[0]}: the request screen "
                               "reads a BERT-style encoder exported by medsafe")
        for name in (HIDDEN, POOLED):
            graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                         None))
        session = cpu_session(graph.SerializeToString(), threads)
        encoder = PairEncoder.from_file(model_path.parent / "tokenizer.json")
        return cls(session, encoder, sha256_of(model_path))

    def features(self, texts: list[str]) -> np.ndarray:
        """768 features per request: the last layer's token mean, then the pooled vector."""
        out = np.zeros((len(texts), 768), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), BATCH):
            chunk = order[start: start + BATCH]
            batch = self.encoder.batch([texts[i] for i in chunk], [""] * len(chunk))
            hidden, pooled = self.session.run(
                [HIDDEN, POOLED], {k: v for k, v in batch.items() if k in self._inputs})
            mask = batch["attention_mask"][..., None].astype(np.float32)
            out[chunk] = np.hstack([(hidden * mask).sum(axis=1) / mask.sum(axis=1), pooled])
        return out


@cache
def _shipped(path: str, mtime_ns: int) -> RequestEncoder:
    return RequestEncoder.load(Path(path))


def load_request_encoder() -> RequestEncoder:
    """The shipped encoder as a request-feature model (loaded once per process)."""
    folder = asset_dir()
    model = folder / "model.onnx"
    if not model.is_file():
        raise MedsafeError(f"the encoder model is missing ({model}): reinstall medsafe")
    return _shipped(str(folder), model.stat().st_mtime_ns)
