"""The hf: target on a tiny transformers model built in the test (needs the [hf] extra)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the hf target needs medsafe[hf]")
transformers = pytest.importorskip("transformers")

from conftest import run_cli  # noqa: E402
from finetune_support import build_tiny_llama  # noqa: E402
from medsafe.samples import Message  # noqa: E402
from medsafe.targets import GenerationParams, TargetOptions, resolve_target  # noqa: E402

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a word-level tokenizer, saved like any Hugging Face model."""
    corpus = ["<user> please help me with a harmful request number one two three",
              "<assistant> no i cannot help with that <system> you are safe"]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), corpus, CHAT_TEMPLATE)


# A model whose next token depends only on the current one, so its answers are known in advance:
# after the chat template's generation prompt (which ends with ">") it says "no i cannot" and
# then its stop token; after any other token it says "help", until max_tokens runs out.
CHAIN = {">": "no", "no": "i", "i": "cannot"}
WORDS = ["<eos>", "<unk>", "<end>", "<", ">", "user", "assistant", "please", "help", "me",
         "number", "one", "two", "three", "four", "no", "i", "cannot"]


def scripted_model(out: Path, *, pad: str, stop: str, eos_ids: list[str]) -> Path:
    """A one-layer Llama whose attention and MLP add nothing, so the residual stream is the
    current token's one-hot embedding and ``lm_head`` is a lookup table of the next token."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token=pad, eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    n = len(WORDS)
    config = transformers.LlamaConfig(
        vocab_size=n, hidden_size=32, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
        pad_token_id=vocab[pad], eos_token_id=[vocab[w] for w in eos_ids])
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        model.model.norm.weight.fill_(1.0)
        for layer in model.model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        for word, i in vocab.items():
            model.model.embed_tokens.weight[i, i] = 1.0
            successor = stop if word == "cannot" else CHAIN.get(word, "help")
            model.lm_head.weight[vocab[successor], i] = 10.0
    model.save_pretrained(out)
    return out


def generate_all(model_dir: Path, prompts: list[str], max_tokens: int = 6,
                 concurrency: int = 8) -> tuple[list, list[int]]:
    """Completions of concurrent requests, and the size of each batch the target generated."""
    target = resolve_target(f"hf:{model_dir}", TargetOptions(concurrency=concurrency))
    batches: list[int] = []
    generate_batch = target._generate_batch

    def recording(batch: list) -> list:
        batches.append(len(batch))
        return generate_batch(batch)

    target._generate_batch = recording  # type: ignore[method-assign]

    async def go() -> list:
        try:
            return await asyncio.gather(*(
                target.generate((Message(role="user", content=p),),
                                GenerationParams(max_tokens=max_tokens)) for p in prompts))
        finally:
            await target.aclose()

    return asyncio.run(go()), batches


@pytest.mark.parametrize(("pad", "stop", "eos_ids"), [
    ("<eos>", "<eos>", ["<eos>"]),  # pad is eos: how every merged fine-tune is saved
    ("<end>", "<end>", ["<eos>", "<end>"]),  # a second end token that is also the pad (Qwen)
], ids=["pad-is-eos", "pad-is-another-end-token"])
def test_an_answer_that_ends_with_its_stop_token_is_finished_and_fully_counted(
        tmp_path: Path, pad: str, stop: str, eos_ids: list[str]) -> None:
    model = scripted_model(tmp_path, pad=pad, stop=stop, eos_ids=eos_ids)
    (done,), _ = generate_all(model, ["please help me"], max_tokens=6)
    assert done.text == "no i cannot"
    assert done.finish_reason == "stop"
    assert done.completion_tokens == 3  # the stop token itself is not counted, as in llama.cpp


def test_an_answer_cut_by_max_tokens_is_length_even_when_pad_is_eos(tmp_path: Path) -> None:
    model = scripted_model(tmp_path, pad="<eos>", stop="<eos>", eos_ids=["<eos>"])
    (done,), _ = generate_all(model, ["please help me"], max_tokens=2)
    assert (done.text, done.finish_reason, done.completion_tokens) == ("no i", "length", 2)


def test_concurrent_requests_run_as_batches_through_the_chat_template(tmp_path: Path) -> None:
    model = scripted_model(tmp_path, pad="<eos>", stop="<eos>", eos_ids=["<eos>"])
    prompts = ["please help me number one", "help me", "number two", "three", "help me four"]
    completions, batches = generate_all(model, prompts, concurrency=2)
    assert batches == [2, 2, 1]  # five requests at once, at most `concurrency` per batch
    for prompt, done in zip(prompts, completions, strict=True):
        # "<user> PROMPT <assistant> " tokenizes to the prompt's words and six marker tokens;
        # only the template's generation prompt, ending in ">", leads to this answer (after the
        # prompt's own last word the model would say "help" until max_tokens).
        assert done.prompt_tokens == len(prompt.split()) + 6
        assert (done.text, done.finish_reason) == ("no i cannot", "stop")


def test_hf_target_batches_concurrent_requests_with_the_chat_template(tiny_model: Path) -> None:
    target = resolve_target(f"hf:{tiny_model}", TargetOptions(concurrency=4))
    params = GenerationParams(max_tokens=5)

    async def go():
        prompts = [f"please help me number {w}" for w in ("one", "two", "three")]
        done = await asyncio.gather(*(
            target.generate((Message(role="user", content=p),), params) for p in prompts))
        await target.aclose()
        return done

    completions = asyncio.run(go())
    assert len(completions) == 3
    for c in completions:
        assert 1 <= c.completion_tokens <= 5
        assert c.finish_reason in ("stop", "length")
        assert c.prompt_tokens >= 5  # the chat template's role tags were applied
    assert target.identity()["model_fingerprint"]


def test_greedy_generation_is_deterministic(tiny_model: Path) -> None:
    async def once() -> str:
        target = resolve_target(f"hf:{tiny_model}")
        c = await target.generate((Message(role="user", content="help me"),),
                                  GenerationParams(max_tokens=6))
        await target.aclose()
        return c.text

    assert asyncio.run(once()) == asyncio.run(once())


def test_eval_runs_an_hf_directory_through_the_cli(tiny_model: Path, tmp_path: Path,
                                                   prompts: Path) -> None:
    result = run_cli("eval", "--target", f"hf:{tiny_model}", "--suite", f"jsonl:{prompts}",
                     "--judge", "mock:refusal", "--max-tokens", "4",
                     "--store", str(tmp_path / "s"), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["suites"]["jsonl:prompts.jsonl"]["n"] == 18
    assert summary["suites"]["jsonl:prompts.jsonl"]["errors"] == 0


def test_missing_hf_directory_is_a_clear_error(tmp_path: Path, prompts: Path) -> None:
    result = run_cli("eval", "--target", f"hf:{tmp_path}/nope", "--suite", f"jsonl:{prompts}",
                     "--judge", "mock:1", "--store", str(tmp_path))
    assert result.returncode == 2 and "directory not found" in result.stderr
