"""Write a GGUF with the shape of Llama-3.1-8B and random Q4_0 weights.

Model files cannot travel to a GPU machine, and a benchmark of speed needs the
shape, not the knowledge: 32 layers of 4096 wide, 32 query and 8 KV heads of
128, a 14336-wide SwiGLU, and a 128256-token vocabulary, every matrix Q4_0
(blocks of 32 weights, one f16 scale; 4.6 GB in all). The weights are random
nibbles with a scale that keeps each matrix near unit gain (std 1/sqrt(fan-in)),
so activations stay finite; the answers are noise, the timing is real.

The tokenizer is a stand-in SentencePiece vocabulary of the same size: the
byte tokens, the printable ASCII characters (each alone and after a space), and
filler. Every digit and punctuation mark is its own token, as with SmolLM2, so
a record costs more tokens than with Llama 3's real tokenizer.

Run: ``python -m bench.synthetic_gguf OUT.gguf`` (from the repository root); ``--layers``, ``--embd``,
``--ff``, ``--heads``, ``--kv-heads`` and ``--vocab`` shrink it (the tests
write a model of a few hundred kB with them). Needs the ``gguf`` package.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover - a message, not a traceback
    raise SystemExit("synthetic_gguf: needs the gguf package (pip install gguf)") from None

Q4_0_BLOCK, Q4_0_BYTES = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_0]  # 32 weights, 18 bytes
NIBBLE_STD = float(np.sqrt((16**2 - 1) / 12))  # std of a uniform nibble 0..15, centred at 8


@dataclass(frozen=True)
class Shape:
    n_layer: int = 32
    n_embd: int = 4096
    n_ff: int = 14336
    n_head: int = 32
    n_head_kv: int = 8
    n_vocab: int = 128256
    n_ctx_train: int = 131072
    rope_theta: float = 500000.0

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


def matrices(shape: Shape) -> Iterator[tuple[str, int, int]]:
    """(name, rows, columns) of every Q4_0 matrix, in file order; columns is the fan-in."""
    kv = shape.n_head_kv * shape.head_dim
    yield "token_embd.weight", shape.n_vocab, shape.n_embd
    for i in range(shape.n_layer):
        yield f"blk.{i}.attn_q.weight", shape.n_embd, shape.n_embd
        yield f"blk.{i}.attn_k.weight", kv, shape.n_embd
        yield f"blk.{i}.attn_v.weight", kv, shape.n_embd
        yield f"blk.{i}.attn_output.weight", shape.n_embd, shape.n_embd
        yield f"blk.{i}.ffn_gate.weight", shape.n_ff, shape.n_embd
        yield f"blk.{i}.ffn_up.weight", shape.n_ff, shape.n_embd
        yield f"blk.{i}.ffn_down.weight", shape.n_embd, shape.n_ff
    yield "output.weight", shape.n_vocab, shape.n_embd


def norms(shape: Shape) -> Iterator[str]:
    for i in range(shape.n_layer):
        yield f"blk.{i}.attn_norm.weight"
        yield f"blk.{i}.ffn_norm.weight"
    yield "output_norm.weight"


def q4_0_blocks(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """Random Q4_0 data for a rows x columns matrix, as bytes [rows, columns / 32 * 18]."""
    n_blocks = rows * columns // Q4_0_BLOCK
    blocks = np.empty((n_blocks, Q4_0_BYTES), dtype=np.uint8)
    scale = np.float16(1.0 / np.sqrt(columns) / NIBBLE_STD)
    blocks[:, :2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
    blocks[:, 2:] = rng.integers(0, 256, size=(n_blocks, Q4_0_BYTES - 2), dtype=np.uint8)
    return blocks.reshape(rows, columns // Q4_0_BLOCK * Q4_0_BYTES)


def vocabulary(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and types of a stand-in SentencePiece vocabulary."""
    types = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>"]
    scores = [0.0, 0.0, 0.0]
    kinds = [types.UNKNOWN, types.CONTROL, types.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        scores.append(0.0)
        kinds.append(types.BYTE)
    printable = [chr(c) for c in range(33, 127)]
    for piece in ["\u2581", *printable, *("\u2581" + c for c in printable)]:
        tokens.append(piece)
        scores.append(-float(len(tokens)))
        kinds.append(types.NORMAL)
    while len(tokens) < n_vocab:
        tokens.append(f"\u2581filler{len(tokens)}")
        scores.append(-1e6)
        kinds.append(types.NORMAL)
    return tokens, scores, [int(k) for k in kinds]


def write(path: Path, shape: Shape, seed: int) -> None:
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(f"synthetic Llama-3.1-8B shape, {shape.n_layer} layers, random Q4_0")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(shape.n_vocab)
    tokens, scores, kinds = vocabulary(shape.n_vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(kinds)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)

    q4 = list(matrices(shape))
    for name, rows, columns in q4:
        nbytes = rows * columns // Q4_0_BLOCK * Q4_0_BYTES
        writer.add_tensor_info(
            name, (rows, nbytes // rows), np.dtype(np.uint8), nbytes, raw_dtype=gguf.GGMLQuantizationType.Q4_0
        )
    for name in norms(shape):
        writer.add_tensor_info(name, (shape.n_embd,), np.dtype(np.float32), shape.n_embd * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    started, total = time.monotonic(), 0
    for i, (_, rows, columns) in enumerate(q4):
        data = q4_0_blocks(rng, rows, columns)
        writer.write_tensor_data(data)
        total += data.nbytes
        if i % 16 == 0 or i == len(q4) - 1:
            done = f"{i + 1}/{len(q4)} matrices, {total / 1e9:.2f} GB"
            print(f"synthetic_gguf: {done}", file=sys.stderr, flush=True)
    for _ in norms(shape):
        writer.write_tensor_data(np.ones(shape.n_embd, dtype=np.float32))
    writer.close()
    print(f"synthetic_gguf: wrote {path} in {time.monotonic() - started:.0f} s", file=sys.stderr)


def create(out: Path, shape: Shape, seed: int = 0) -> None:
    """Write the model to ``out``, through a partial file so that ``out`` is whole or absent."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    write(partial, shape, seed)
    partial.replace(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.synthetic_gguf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path)
    p.add_argument("--layers", type=int, default=Shape.n_layer, help="(default: %(default)s, as the 8B)")
    p.add_argument("--embd", type=int, default=Shape.n_embd, help="(default: %(default)s)")
    p.add_argument("--ff", type=int, default=Shape.n_ff, help="(default: %(default)s)")
    p.add_argument("--heads", type=int, default=Shape.n_head, help="(default: %(default)s)")
    p.add_argument("--kv-heads", type=int, default=Shape.n_head_kv, help="(default: %(default)s)")
    p.add_argument("--vocab", type=int, default=Shape.n_vocab, help="at least 512 (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    shape = Shape(args.layers, args.embd, args.ff, args.heads, args.kv_heads, args.vocab)
    if shape.n_embd % Q4_0_BLOCK or shape.n_ff % Q4_0_BLOCK or shape.n_embd % shape.n_head:
        p.error(f"--embd and --ff must be multiples of {Q4_0_BLOCK}, and --embd of --heads")
    if shape.n_vocab < 512:
        p.error("--vocab must be at least 512 (the stand-in vocabulary has 448 fixed tokens)")
    create(args.out, shape, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
