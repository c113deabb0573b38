"""GPU memory sizing for a vLLM replica: weights, KV cache per token, and the batch that fits.

The estimate follows how vLLM spends a GPU: it may use `gpu_memory_utilization` of the card; the
weights (sharded over TP×PP), a runtime reserve (activations of the profiling run, CUDA graphs, NCCL
buffers) and the KV cache share it. vLLM refuses to start when the KV cache cannot hold one sequence of
`max_model_len` tokens, so that is the "fits" test.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1024**3

# activations of vLLM's profiling run, CUDA graphs and NCCL buffers, per GPU: an estimate, on the safe side
RUNTIME_RESERVE_GIB = 1.5

# total memory as nvidia-smi / rocm-smi report it, and the node labels GPU Feature Discovery sets
GPUS: dict[str, tuple[float, tuple[str, ...]]] = {
    "T4-16GB": (15360 / 1024, ("Tesla-T4",)),
    "A10G-24GB": (23028 / 1024, ("NVIDIA-A10G",)),
    "L4-24GB": (23034 / 1024, ("NVIDIA-L4",)),
    "A100-40GB": (40960 / 1024, ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB")),
    "L40S-48GB": (46068 / 1024, ("NVIDIA-L40S",)),
    "A100-80GB": (81920 / 1024, ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe")),
    "H100-80GB": (81559 / 1024, ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe")),
    "H200-141GB": (143771 / 1024, ("NVIDIA-H200",)),
    "MI300X-192GB": (196592 / 1024, ("AMD-Instinct-MI300X",)),
}

# bytes per weight for a vLLM dtype or quantization method
BYTES_PER_PARAM = {"auto": 2, "bfloat16": 2, "float16": 2, "half": 2, "float32": 4, "float": 4,
                   "fp8": 1, "int8": 1, "w8a8": 1, "bitsandbytes": 0.5, "awq": 0.5, "gptq": 0.5,
                   "awq_marlin": 0.5, "gptq_marlin": 0.5, "int4": 0.5}


@dataclass(frozen=True)
class Architecture:
    """The config.json fields that decide memory (Llama-style decoder; MoE through `experts`)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    head_dim: int | None = None
    experts: int = 1
    attention_bias: bool = False

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def parameters(self) -> int:
        h, d = self.hidden_size, self.head_size
        q, kv = self.num_attention_heads * d, self.num_key_value_heads * d
        attention = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.attention_bias else 0)
        mlp = 3 * h * self.intermediate_size * self.experts + (h * self.experts if self.experts > 1 else 0)
        per_layer = attention + mlp + 2 * h
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return per_layer * self.num_hidden_layers + embeddings + h

    @classmethod
    def from_config(cls, config: dict) -> Architecture:
        text = config.get("text_config", config)  # multimodal configs nest the language model's
        missing = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                               "vocab_size") if k not in text]
        if missing:
            raise ValueError(f"config.json lacks {', '.join(missing)}: not a decoder config llmstack can size")
        return cls(
            hidden_size=text["hidden_size"], num_hidden_layers=text["num_hidden_layers"],
            num_attention_heads=text["num_attention_heads"],
            num_key_value_heads=text.get("num_key_value_heads") or text["num_attention_heads"],
            intermediate_size=text.get("moe_intermediate_size") or text["intermediate_size"],
            vocab_size=text["vocab_size"], tie_word_embeddings=bool(text.get("tie_word_embeddings", False)),
            head_dim=text.get("head_dim"),
            experts=text.get("num_local_experts") or text.get("num_experts") or text.get("n_routed_experts") or 1,
            attention_bias=bool(text.get("attention_bias", text.get("model_type") == "qwen2")))


# Well-known models, from their published config.json files (Hugging Face model repositories)
_LLAMA3_VOCAB = 128256
KNOWN_MODELS: dict[str, Architecture] = {
    "llama-3.1-8b": Architecture(4096, 32, 32, 8, 14336, _LLAMA3_VOCAB),
    "llama-3.1-70b": Architecture(8192, 80, 64, 8, 28672, _LLAMA3_VOCAB),
    "llama-3.3-70b": Architecture(8192, 80, 64, 8, 28672, _LLAMA3_VOCAB),
    "llama-3.1-405b": Architecture(16384, 126, 128, 8, 53248, _LLAMA3_VOCAB),
    "mistral-7b": Architecture(4096, 32, 32, 8, 14336, 32000),
    "qwen2.5-7b": Architecture(3584, 28, 28, 4, 18944, 152064, attention_bias=True),
    "smollm2-135m": Architecture(576, 30, 9, 3, 1536, 49152, tie_word_embeddings=True),
}


def known_model(reference: str) -> tuple[str, Architecture] | None:
    """The table entry a model name or source URI refers to (`hf://meta-llama/Llama-3.1-70B-Instruct`
    is llama-3.1-70b), or None."""
    name = reference.rstrip("/").split("/")[-1].split("@")[0].lower()
    name = re.sub(r"[-_](instruct|chat|base|hf|it)(-v?\d[\w.]*)?$", "", name)
    name = re.sub(r"^meta-", "", name)
    for key, arch in KNOWN_MODELS.items():
        if name == key or re.sub(r"-v0\.\d$", "", name) == key:
            return key, arch
    return None


def gpu_for_label(label: str) -> str | None:
    """The GPUS key of a `nvidia.com/gpu.product` (or `amd.com/gpu.product`) node label value."""
    for key, (_, labels) in GPUS.items():
        if label in labels:
            return key
    return None


# cloud.google.com/gke-accelerator values (GKE's GPU node label)
GKE_ACCELERATORS = {
    "nvidia-tesla-t4": "T4-16GB", "nvidia-l4": "L4-24GB", "nvidia-tesla-a100": "A100-40GB",
    "nvidia-a100-80gb": "A100-80GB", "nvidia-h100-80gb": "H100-80GB", "nvidia-h100-mega-80gb": "H100-80GB",
    "nvidia-h200-141gb": "H200-141GB",
}
# node.kubernetes.io/instance-type families of EKS (EC2) and AKS (Azure VM sizes) with one GPU model each
INSTANCE_TYPES = (
    (r"^g4dn\.", "T4-16GB"), (r"^g5\.", "A10G-24GB"), (r"^g6\.", "L4-24GB"), (r"^g6e\.", "L40S-48GB"),
    (r"^p4d\.", "A100-40GB"), (r"^p4de\.", "A100-80GB"), (r"^p5\.", "H100-80GB"), (r"^p5e[n]?\.", "H200-141GB"),
    (r"^Standard_NC\d+as_T4_v3$", "T4-16GB"), (r"^Standard_NC\d+ads_A100_v4$", "A100-80GB"),
    (r"^Standard_ND96asr_v4$", "A100-40GB"), (r"^Standard_ND96amsr_A100_v4$", "A100-80GB"),
    (r"^Standard_ND96isr_H100_v5$", "H100-80GB"), (r"^Standard_ND96isr_H200_v5$", "H200-141GB"),
)


def gpu_for_node(labels: dict) -> str | None:
    """The GPU a pod's node labels select: GPU Feature Discovery's product label, GKE's accelerator label, or
    an EKS/AKS instance type whose family has one GPU model. None when they name no GPU llmstack knows."""
    for key in ("nvidia.com/gpu.product", "amd.com/gpu.product"):
        if labels.get(key):
            return gpu_for_label(str(labels[key]))
    if labels.get("cloud.google.com/gke-accelerator"):
        return GKE_ACCELERATORS.get(str(labels["cloud.google.com/gke-accelerator"]))
    instance = labels.get("node.kubernetes.io/instance-type") or labels.get("beta.kubernetes.io/instance-type")
    for pattern, gpu in INSTANCE_TYPES if instance else ():
        if re.match(pattern, str(instance)):
            return gpu
    return None


def parse_count(text: str | int | float) -> int:
    """`70B`, `8.03e9`, `135M` or a plain number of parameters."""
    if isinstance(text, int | float):
        return int(text)
    match = re.fullmatch(r"\s*([\d.]+(?:e\d+)?)\s*([kKmMbBtT]?)\s*", str(text))
    if not match:
        raise ValueError(f"{text!r} is not a parameter count: use e.g. 70B, 135M or 8.03e9")
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def bytes_per_param(dtype: str | None, quantization: str | None) -> float:
    key = (quantization or dtype or "auto").lower()
    if key not in BYTES_PER_PARAM:
        raise ValueError(f"unknown dtype/quantization {key!r}: use one of {', '.join(sorted(BYTES_PER_PARAM))}")
    return BYTES_PER_PARAM[key]


def kv_bytes_per_token(arch: Architecture, kv_bytes: float = 2) -> float:
    """K and V of every layer for one token, whole model (all GPUs together)."""
    return 2 * arch.num_hidden_layers * arch.num_key_value_heads * arch.head_size * kv_bytes


@dataclass
class Estimate:
    parameters: int
    weights_gib: float
    weights_per_gpu_gib: float
    kv_per_token_per_gpu_kib: float | None
    gpu: str
    gpu_memory_gib: float
    usable_gib: float
    kv_cache_per_gpu_gib: float
    kv_tokens: int | None
    max_model_len: int
    max_batch_at_max_len: int | None
    fits: bool
    reason: str
    gpu_share: float = 1.0  # a replica's share of one GPU (engine ray, 1/N)

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def estimate(*, gpu: str, max_model_len: int, parameters: int | None = None, arch: Architecture | None = None,
             dtype: str | None = None, quantization: str | None = None, kv_cache_dtype: str | None = None,
             tensor_parallel: int = 1, pipeline_parallel: int = 1, gpu_memory_utilization: float = 0.9,
             gpu_share: float = 1.0) -> Estimate:
    """Memory per GPU of one replica; `arch` (from config.json or the table) also sizes the KV cache. `gpu_share`:
    a replica on a share of one GPU (engine ray, 1/N), which vLLM is given that share of the memory of."""
    if gpu not in GPUS:
        raise ValueError(f"unknown GPU {gpu!r}: use one of {', '.join(GPUS)}")
    if parameters is None and arch is None:
        raise ValueError("give a parameter count or an architecture (config.json)")
    params = arch.parameters() if arch else int(parameters or 0)
    shards = tensor_parallel * pipeline_parallel
    weights = params * bytes_per_param(dtype, quantization) / GIB
    per_gpu = weights / shards
    memory = GPUS[gpu][0]
    usable = memory * gpu_memory_utilization * gpu_share
    card = f"a {gpu}" if gpu_share == 1 else f"{gpu_share:g} of a {gpu}"
    kv_budget = usable - per_gpu - RUNTIME_RESERVE_GIB
    kv_per_token = tokens = batch = None
    if arch:
        kv_bytes = 1 if (kv_cache_dtype or "").startswith("fp8") else 2
        heads_per_gpu = max(1, math.ceil(arch.num_key_value_heads / tensor_parallel))  # replicated below 1
        layers_per_gpu = math.ceil(arch.num_hidden_layers / pipeline_parallel)
        kv_per_token = 2 * layers_per_gpu * heads_per_gpu * arch.head_size * kv_bytes
        tokens = max(0, int(kv_budget * GIB // kv_per_token))
        batch = tokens // max_model_len
    if kv_budget <= 0:
        fits, reason = False, (f"weights need {per_gpu:.1f} GiB per GPU + {RUNTIME_RESERVE_GIB} GiB runtime, "
                               f"more than the {usable:.1f} GiB vLLM may use of {card}: raise tensorParallelSize, "
                               f"quantize, or use a larger GPU{' or share' if gpu_share < 1 else ''}")
    elif tokens is not None and tokens < max_model_len:
        fits, reason = False, (f"the KV cache holds {tokens} tokens per GPU, fewer than one sequence of "
                               f"maxModelLen {max_model_len}: vLLM refuses to start; lower maxModelLen or raise "
                               f"tensorParallelSize")
    else:
        fits = True
        reason = (f"{batch} sequences of {max_model_len} tokens fit in the KV cache" if batch is not None
                  else f"weights fit with {kv_budget:.1f} GiB left for the KV cache (no config.json: KV not sized)")
    return Estimate(parameters=params, weights_gib=weights, weights_per_gpu_gib=per_gpu,
                    kv_per_token_per_gpu_kib=kv_per_token / 1024 if kv_per_token else None, gpu=gpu,
                    gpu_memory_gib=memory, usable_gib=usable, kv_cache_per_gpu_gib=max(0.0, kv_budget),
                    kv_tokens=tokens, max_model_len=max_model_len, max_batch_at_max_len=batch, fits=fits,
                    reason=reason, gpu_share=gpu_share)


def load_config(path: Path) -> Architecture:
    return Architecture.from_config(json.loads(Path(path).read_text()))
