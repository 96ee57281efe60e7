"""`paste generate --model NAME "prompt"`: generate text with the engine, streaming to stdout.

Instruct models get the prompt through their chat template (as a user message) unless --raw;
`--lora NAME` runs it with a LoRA adapter of `--lora-modules NAME=PATH`.
Exit codes: 0 ok, 1 a paste error (message on stderr, e.g. the model is not pulled).
"""

from __future__ import annotations

import argparse
import sys

from paste.cli.engine_args import add_engine_arguments, engine_options


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("generate", help="generate text from a prompt")
    p.add_argument("prompt", nargs="+", help="prompt text (several prompts run as one batch)")
    p.add_argument("--model", default=None, help="model name or HF-format folder")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--system", default=None, help="system message for the chat template")
    p.add_argument("--raw", action="store_true", help="do not apply the chat template")
    p.add_argument("--lora", default=None, metavar="NAME",
                   help="run the prompts with this --lora-modules adapter")
    add_engine_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from paste.engine.engine import Engine
    from paste.engine.request import GenerationParams

    params = GenerationParams(max_tokens=args.max_tokens, temperature=args.temperature,
                              top_p=args.top_p, top_k=args.top_k, seed=args.seed,
                              stop=tuple(args.stop), lora=args.lora)
    with Engine(args.model, **engine_options(args)) as engine:
        prompts = [p if args.raw else engine.chat_prompt(
            ([{"role": "system", "content": args.system}] if args.system else [])
            + [{"role": "user", "content": p}]) for p in args.prompt]
        if len(prompts) == 1:
            for out in engine.stream(prompts[0], params):
                sys.stdout.write(out.delta)
                sys.stdout.flush()
            sys.stdout.write("\n")
        else:
            for i, out in enumerate(engine.generate(prompts, params)):
                print(f"[{i}] {out.text}")
    return 0
