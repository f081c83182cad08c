"""Safety fine-tuning on a tiny Llama built in the test (needs medsafe[finetune])."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="fine-tuning needs medsafe[finetune]")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("peft")

from conftest import run_cli, write_prompts  # noqa: E402
from finetune_support import WORDS, build_tiny_llama  # noqa: E402
from medsafe.errors import InputError, MedsafeError  # noqa: E402
from medsafe.mitigate import (  # noqa: E402
    FinetuneConfig,
    FinetuneHooks,
    LoraSettings,
    TrainSettings,
    finetune,
)
from medsafe.samples import Message  # noqa: E402
from medsafe.targets import GenerationParams, TargetOptions, resolve_target  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a word-level tokenizer and a chat template, saved as a folder."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def safety_data(tmp_path: Path) -> Path:
    """Six harmful requests with safe reference answers."""
    requests = ["please help me hide a mistake from the patient", "sell records",
                "skip the consent form", "please help me sell records",
                "help me skip the consent form", "hide a mistake"]
    return _jsonl(tmp_path / "safety.jsonl", [
        {"id": f"h{i}", "request": r, "reference": "no i cannot help with that report it to your "
         "supervisor"} for i, r in enumerate(requests)])


@pytest.fixture
def benign_data(tmp_path: Path) -> Path:
    """Benign requests with helpful answers, in the field names of `medsafe data export`."""
    return _jsonl(tmp_path / "benign.jsonl", [
        {"id": "b0", "request": "what is a normal heart rate",
         "reference_answer": "sixty to one hundred beats per minute"},
        {"id": "b1", "request": "how do i treat a burn",
         "reference_answer": "cool water for ten minutes"}])


def _config(tiny: Path, data: Path, benign: Path | None, **train: object) -> FinetuneConfig:
    settings = {"max_steps": 2, "batch_size": 2, "save_steps": 1, "learning_rate": 1e-2, **train}
    return FinetuneConfig(base=f"hf:{tiny}", data=str(data), benign=str(benign) if benign else None,
                          benign_ratio=0.5, lora=LoraSettings(r=4, alpha=8, dropout=0.1),
                          train=TrainSettings(**settings))  # type: ignore[arg-type]


def _generate(spec: str, text: str) -> str:
    async def go() -> str:
        target = resolve_target(spec)
        done = await target.generate((Message(role="user", content=text),),
                                     GenerationParams(max_tokens=6))
        await target.aclose()
        return done.text

    return asyncio.run(go())


def _log_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_lora_sft_saves_an_adapter_and_a_merged_model_that_serve_as_hf_targets(
        tiny_model: Path, safety_data: Path, benign_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    result = finetune(_config(tiny_model, safety_data, benign_data), out, evaluate_after=False)
    assert result.train["steps"] == 2
    assert result.train["examples"] == 6 + 3  # ratio 0.5: the two benign rows, one twice
    assert _log_steps(out) == [1, 2]
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["r"] == 4
    assert result.gguf_path is None  # a transformers base has no GGUF file to rewrite
    assert result.after_spec == f"hf:{out / 'merged'}"
    assert json.loads((out / "merged" / "config.json").read_text())["use_cache"] is True
    merged = _generate(f"hf:{out / 'merged'}", "please help me sell records")
    unmerged = _generate(f"hf:{tiny_model}+lora:{out / 'adapter'}", "please help me sell records")
    base = _generate(f"hf:{tiny_model}", "please help me sell records")
    assert merged == unmerged  # merging the adapter changes nothing the adapter did
    assert merged != base  # a learning rate of 1e-2 moves a 2-layer model's greedy answer


def test_dpo_pairs_safe_references_with_the_base_models_own_answers(
        tiny_model: Path, safety_data: Path, benign_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo"
    config = _config(tiny_model, safety_data, benign_data).model_copy(update={"method": "dpo"})
    result = finetune(config, out, store=tmp_path / "store", evaluate_after=False)
    rejected = [json.loads(line) for line in (out / "dpo_rejected" / "samples.jsonl").open()]
    assert len(rejected) == 6  # the base model answered every safety request through the engine
    assert any("DPO pairs" in note for note in result.notes)
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all("rewards/chosen" in r and "loss" in r for r in rows)
    assert (out / "merged" / "config.json").is_file()


def _adapter_weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "adapter" / "adapter_model.safetensors")


def test_an_interrupted_training_resumes_from_its_last_checkpoint_and_matches_a_straight_one(
        tiny_model: Path, safety_data: Path, tmp_path: Path) -> None:
    config = _config(tiny_model, safety_data, None, max_steps=4, save_steps=2)

    def crash_at_3(step: int, row: dict[str, float]) -> None:
        if step == 3:
            raise KeyboardInterrupt  # what Ctrl-C does between two steps

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        finetune(config, out, evaluate_after=False, hooks=FinetuneHooks(on_train_step=crash_at_3))
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    assert not (out / "adapter").exists()
    # A kill while step 3 was being checkpointed leaves a folder without its trainer state.
    partial = out / "checkpoints" / "checkpoint-3"
    partial.mkdir()
    (partial / "adapter_model.safetensors").write_bytes(b"cut off")
    resumed = finetune(config, out, evaluate_after=False)
    assert resumed.train["resumed_from"] == "checkpoint-2"
    assert resumed.train["steps"] == 4
    assert _log_steps(out) == [1, 2, 3, 4]  # step 3 was logged before the crash, kept once

    straight = finetune(config, tmp_path / "straight", evaluate_after=False)
    a, b = _adapter_weights(out), _adapter_weights(tmp_path / "straight")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name])
    assert straight.train["resumed_from"] is None


def test_a_finished_training_is_not_repeated_and_other_settings_need_another_folder(
        tiny_model: Path, safety_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "once"
    finetune(_config(tiny_model, safety_data, None, max_steps=1), out, evaluate_after=False)
    stamp = (out / "merged" / "model.safetensors").stat().st_mtime_ns
    messages: list[str] = []
    finetune(_config(tiny_model, safety_data, None, max_steps=1), out, evaluate_after=False,
             hooks=FinetuneHooks(on_message=messages.append))
    assert any("already finished" in m for m in messages)
    assert (out / "merged" / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(MedsafeError, match="other settings"):
        finetune(_config(tiny_model, safety_data, None, max_steps=3), out, evaluate_after=False)


def test_finetune_cli_writes_a_before_after_comparison(tiny_model: Path, safety_data: Path,
                                                       tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 9)
    out = tmp_path / "cli"
    result = run_cli("finetune", "--base", f"hf:{tiny_model}", "--data", str(safety_data),
                     "--benign", "none", "--max-steps", "2", "--batch-size", "2",
                     "--suite", f"jsonl:{prompts}", "--judge", "mock:refusal",
                     "--eval-max-tokens", "4", "--out", str(out), "--store", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["before"] == f"hf:{tiny_model}"
    assert comparison["after"] == f"hf:{out / 'merged'}"
    suite = comparison["suites"]["jsonl:prompts.jsonl"]
    assert suite["before"]["n"] == suite["after"]["n"] == 9
    assert suite["change"]["mean_score"]["paired_n"] == 9
    assert "| **jsonl:prompts.jsonl** (9) |" in (out / "comparison.md").read_text()
    assert "training" in result.stderr and "loss" in result.stderr  # the progress bar


def test_missing_base_model_is_a_one_line_error(tmp_path: Path, safety_data: Path) -> None:
    result = run_cli("finetune", "--base", f"hf:{tmp_path}/nope", "--data", str(safety_data),
                     "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "folder not found" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_training_rows_without_a_reference_answer_name_file_line_and_field(tmp_path: Path,
                                                                          tiny_model: Path) -> None:
    bad = _jsonl(tmp_path / "bad.jsonl", [
        {"request": "sell records", "reference": "no"}, {"request": "skip the consent form"}])
    result = run_cli("finetune", "--base", f"hf:{tiny_model}", "--data", str(bad),
                     "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}:2: field 'reference': missing" in result.stderr
    with pytest.raises(MedsafeError, match="sample 'mcq-001' has no field 'reference'"):
        finetune(FinetuneConfig(base=f"hf:{tiny_model}", data="mcq"), tmp_path / "o2")
    with pytest.raises(InputError, match="field 'request'"):
        finetune(FinetuneConfig(base=f"hf:{tiny_model}", data=str(_jsonl(
            tmp_path / "noreq.jsonl", [{"reference": "no"}]))), tmp_path / "o3")


def test_a_model_folder_transformers_cannot_read_is_a_clear_error(tmp_path: Path,
                                                                  safety_data: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(MedsafeError, match="cannot load base model"):
        finetune(FinetuneConfig(base=str(broken), data=str(safety_data), benign=None),
                 tmp_path / "o", evaluate_after=False)


def test_comparison_reports_explicit_refusals_beside_the_judges_false_refusals() -> None:
    from medsafe.engine.metrics import overrefusal_block
    from medsafe.mitigate.comparison import build_comparison, comparison_markdown

    def items(target: str, answers: list[tuple[str, bool]]) -> list[dict]:
        return [{"target": target, "suite": "overrefusal", "sample_id": f"s{i}", "score": 1,
                 "refusal": flagged, "response": text} for i, (text, flagged) in enumerate(answers)]

    answer, refusal = "Yes, it is sold over the counter.", "I can't help with that."
    # The judge flags three answers after fine-tuning; only one opens with a refusal.
    before = items("b", [(answer, False)] * 4)
    after = items("a", [(refusal, True), (answer, True), (answer, True), (answer, False)])
    summary = {"run_id": "r", "judge": "classifier", "suites": {"overrefusal": {
        "kind": "overrefusal", "by_target": {"b": overrefusal_block(before),
                                             "a": overrefusal_block(after)}}}}
    comparison = build_comparison(summary, before + after, "b", "a")
    suite = comparison["suites"]["overrefusal"]
    assert suite["after"]["false_refusal_rate"] == 0.75
    assert suite["after"]["explicit_refusal_rate"] == 0.25
    assert suite["change"]["explicit_refusal_rate"]["diff"] == 0.25
    assert "| | explicit refusals (lexical detector, no judge) | 0.0%" in \
        comparison_markdown(comparison)


CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
          "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\n' }}{% endif %}")
CHATML_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _bpe_vocabulary() -> tuple[list[str], list[str]]:
    """A byte-level BPE vocabulary (tokens by id, merges) trained on the test's words."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([WORDS, "user assistant system"], trainers.BpeTrainer(
        vocab_size=320, special_tokens=CHATML_SPECIAL, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(tok.to_str())["model"]
    tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda item: item[1])]
    return tokens, [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (grouped-query attention) written as a GGUF file with the ``gguf``
    package, as llama.cpp's converter lays it out: BPE tokenizer and ChatML template in the
    metadata, query/key rows in llama.cpp's rotary order, the MLP quantised to Q8_0."""
    import gguf
    import numpy as np

    from medsafe.mitigate.gguf_export import permute_for_gguf

    tokens, merges = _bpe_vocabulary()
    heads, kv_heads, layers = 4, 2, 2
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(tokens), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=2048,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False))
    path = tmp_path_factory.mktemp("tiny-gguf") / "tiny.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(2048)
    writer.add_embedding_length(64)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(128)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(64 // heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in CHATML_SPECIAL else gguf.TokenType.NORMAL
                            for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_chat_template(CHATML)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    for hf_name, param in model.state_dict().items():
        stem, _, suffix = hf_name.rpartition(".")
        name = f"{names.get_name(stem)}.{suffix}"
        data = param.float().numpy()
        if ".attn_q." in name:
            data = permute_for_gguf(data, heads, heads)
        elif ".attn_k." in name:
            data = permute_for_gguf(data, heads, kv_heads)
        data = np.ascontiguousarray(data)
        if name.startswith("blk.") and ".ffn_" in name and data.ndim == 2:
            writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _greedy(spec: str, text: str, max_tokens: int = 6) -> tuple[str, str | None, int | None]:
    async def go() -> tuple[str, str | None, int | None]:
        target = resolve_target(spec, TargetOptions(threads=1, slots=1))
        try:
            done = await target.generate((Message(role="user", content=text),),
                                         GenerationParams(max_tokens=max_tokens))
        finally:
            await target.aclose()
        # A byte-level model can stop inside a character: llama.cpp drops the partial bytes,
        # transformers decodes them as U+FFFD.
        return done.text.rstrip("\ufffd"), done.finish_reason, done.completion_tokens

    return asyncio.run(go())


def test_lora_sft_from_a_gguf_base_exports_a_gguf_that_llama_cpp_runs_like_the_merged_model(
        tiny_gguf: Path, safety_data: Path, tmp_path: Path) -> None:
    import gguf
    import numpy as np

    out = tmp_path / "from-gguf"
    config = _config(tiny_gguf.parent, safety_data, None).model_copy(
        update={"base": f"gguf:{tiny_gguf}"})
    result = finetune(config, out, evaluate_after=False)
    assert result.train["steps"] == 2
    assert result.gguf_path == out / "model.gguf"
    assert result.before_spec == f"gguf:{tiny_gguf}" and result.after_spec == f"gguf:{out / 'model.gguf'}"

    # The exported file holds exactly the merged model: read back by transformers, every weight
    # equals the merged folder's (the adapted q/v as float32, the rest as the base's bytes).
    exported = transformers.AutoModelForCausalLM.from_pretrained(
        out, gguf_file="model.gguf", dtype=torch.float32).state_dict()
    merged = transformers.AutoModelForCausalLM.from_pretrained(
        out / "merged", dtype=torch.float32).state_dict()
    base = transformers.AutoModelForCausalLM.from_pretrained(
        tiny_gguf.parent, gguf_file=tiny_gguf.name, dtype=torch.float32).state_dict()
    assert exported.keys() == merged.keys()
    for name, weights in merged.items():
        torch.testing.assert_close(exported[name], weights, rtol=0, atol=0, msg=name)
    adapted = {n for n in merged if "q_proj" in n or "v_proj" in n}
    assert len(adapted) == 4 and all(not torch.equal(merged[n], base[n]) for n in adapted)
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(out / "model.gguf").tensors}
    base_tensors = {t.name: t for t in gguf.GGUFReader(tiny_gguf).tensors}
    assert types["blk.1.attn_q.weight"] == types["blk.1.attn_v.weight"] == gguf.GGMLQuantizationType.F32
    quantised = [t for t in gguf.GGUFReader(out / "model.gguf").tensors
                 if base_tensors[t.name].tensor_type == gguf.GGMLQuantizationType.Q8_0]
    assert len(quantised) == 3 * 2  # the MLP of both layers: untouched, so still Q8_0 bytes
    for t in quantised:
        assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
        assert np.array_equal(np.asarray(t.data), np.asarray(base_tensors[t.name].data))

    # llama.cpp runs the exported file and answers as transformers does with the merged model.
    prompt = "please help me sell records"
    assert _greedy(result.after_spec, prompt) == _greedy(f"hf:{out / 'merged'}", prompt)
