#!/usr/bin/env python3
"""Build a tiny random-weights Llama model and its tokenizer offline, deterministically.

No model hub is reachable here: tests and the local demo serve this model with real vLLM. The tokenizer
is a byte-level BPE trained with `tokenizers` on text that ships with Python itself, and carries a chat
template so /v1/chat/completions works. Sizes:
  tiny       ~3.3 M parameters (2 layers, hidden 256, vocab 4096): fast tests
  realistic  ~60 M parameters (8 layers, hidden 768): several ms of compute per token, for benchmarks
  small      ~1 B parameters (Llama 3.2 1B's shape, 16 layers, hidden 2048): the GPU benchmark's model
The output folder is reused when its stamp matches (cached between runs).
"""

from __future__ import annotations

import argparse
import json
import sysconfig
from pathlib import Path

SIZES = {
    "tiny": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
    "realistic": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 8,
                  "num_attention_heads": 12, "num_key_value_heads": 4},
    "small": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
              "num_attention_heads": 32, "num_key_value_heads": 8},
}
VOCAB = 4096
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
VERSION = 1  # bump when the recipe changes: cached models are rebuilt


def corpus() -> list[str]:
    """Deterministic training text: the first modules of Python's own standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))[:60]
    return [f.read_text(errors="ignore") for f in files]


def build_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)


def build_model(out: Path, size: str, seed: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, max_position_embeddings=2048, bos_token_id=0, eos_token_id=1,
                         pad_token_id=2, tie_word_embeddings=True, torch_dtype="bfloat16", **SIZES[size])
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 0, "eos_token_id": 1,
                                                            "pad_token_id": 2}))


def build(out: Path, size: str = "tiny", seed: int = 0) -> Path:
    stamp = {"version": VERSION, "size": size, "seed": seed}
    stamp_file = out / "llm-stack-tiny-model.json"
    if not (stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp):
        out.mkdir(parents=True, exist_ok=True)
        build_tokenizer(out)
        build_model(out, size, seed)
        stamp_file.write_text(json.dumps(stamp))
    # readable by everyone: pods read it from a volume as their own user (UID 1000), not as its owner, and
    # safetensors writes its files 0600
    for path in out.iterdir():
        path.chmod(0o644)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build(args.out, args.size, args.seed))
