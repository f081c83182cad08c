"""GGUF export of fine-tuned weights into the embedded model's file (needs medsafe[finetune])."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf", reason="the GGUF export needs medsafe[finetune]")
pytest.importorskip("transformers")

from medsafe.errors import MedsafeError  # noqa: E402
from medsafe.mitigate.gguf_export import export_gguf, permute_for_gguf  # noqa: E402
from medsafe.samples import Message  # noqa: E402
from medsafe.targets import GenerationParams, resolve_target  # noqa: E402
from medsafe.targets.embedded import model_path  # noqa: E402

Q0 = "model.layers.0.self_attn.q_proj.weight"
K7 = "model.layers.7.self_attn.k_proj.weight"
V3 = "model.layers.3.self_attn.v_proj.weight"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """The embedded model with three attention matrices replaced by random ones."""
    rng = np.random.default_rng(0)
    changed = {Q0: rng.standard_normal((576, 576), dtype=np.float32),
               K7: rng.standard_normal((192, 576), dtype=np.float32),
               V3: rng.standard_normal((192, 576), dtype=np.float32)}
    out = tmp_path_factory.mktemp("gguf") / "model.gguf"
    export_gguf(model_path(), changed, out)
    return out, changed


def _as_transformers_reads_it(name: str, data: np.ndarray) -> np.ndarray:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    processor = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    return processor.process(data, name).weights


def test_changed_tensors_read_back_through_transformers_exactly(
        exported: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, changed = exported
    tensors = {t.name: t for t in gguf.GGUFReader(path).tensors}
    for hf_name, gguf_name in ((Q0, "blk.0.attn_q.weight"), (K7, "blk.7.attn_k.weight"),
                               (V3, "blk.3.attn_v.weight")):
        tensor = tensors[gguf_name]
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
        read = _as_transformers_reads_it(gguf_name, np.array(tensor.data))
        np.testing.assert_array_equal(read, changed[hf_name])


def test_every_other_tensor_and_all_metadata_are_copied_byte_for_byte(
        exported: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = exported
    base, new = gguf.GGUFReader(model_path()), gguf.GGUFReader(path)
    assert [t.name for t in base.tensors] == [t.name for t in new.tensors]
    replaced = {"blk.0.attn_q.weight", "blk.7.attn_k.weight", "blk.3.attn_v.weight"}
    for a, b in zip(base.tensors, new.tensors, strict=True):
        if a.name not in replaced:
            assert a.tensor_type == b.tensor_type
            assert np.array_equal(np.asarray(a.data), np.asarray(b.data)), a.name
    keys = [k for k in base.fields if not k.startswith("GGUF.")]
    assert keys == [k for k in new.fields if not k.startswith("GGUF.")]
    for key in ("tokenizer.chat_template", "llama.attention.head_count", "tokenizer.ggml.tokens"):
        assert base.fields[key].contents() == new.fields[key].contents()


def test_permutation_is_the_inverse_of_what_transformers_undoes() -> None:
    w = np.arange(12 * 4, dtype=np.float32).reshape(12, 4)
    for heads, kv in ((3, 3), (6, 3), (2, 1)):
        name = "blk.0.attn_q.weight" if heads == kv else "blk.0.attn_k.weight"
        from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

        processor = LlamaTensorProcessor(config={"num_attention_heads": heads,
                                                 "num_key_value_heads": kv})
        np.testing.assert_array_equal(
            processor.process(permute_for_gguf(w, heads, kv), name).weights, w)


def test_the_exported_file_runs_in_llama_cpp(exported: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = exported

    async def go() -> str:
        target = resolve_target(f"gguf:{path}")
        done = await target.generate((Message(role="user", content="What is a fever?"),),
                                     GenerationParams(max_tokens=8))
        await target.aclose()
        return done.text

    # Random attention weights make nonsense, but llama.cpp must load and run the file.
    assert isinstance(asyncio.run(go()), str)


def test_a_tensor_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MedsafeError, match=r"shape of blk\.0\.attn_q\.weight changed"):
        export_gguf(model_path(), {Q0: np.zeros((4, 4), dtype=np.float32)}, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()
