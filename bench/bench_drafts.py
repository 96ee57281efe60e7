"""Speculative decoding by prompt lookup: paste with draft tokens vs without, same run.

Agent turns copy: a coding agent rewrites the code a tool printed, a function-calling agent
restates the records a tool returned. The prompts come from real traces in ../shared/traces
(development split): code printed by mini-swe-agent's `sed -n` / `cat` commands, tau-bench's
get_reservation_details results, and FireAct's HotpotQA questions answered from nothing (a
control with little to copy). Each workload is generated greedily on one engine of the real model
with num_draft_tokens = 0 (the baseline), with a fixed number of drafts
(GenerationParams.num_draft_tokens, every proposed draft verified) and with adaptive drafts (the
goodput rule of csrc/include/paste/draft_policy.h over the step costs measured at load), the
settings back to back per workload so a load change on this shared machine hits all; every
drafted output is checked token for token against the baseline's. Writes bench/RESULTS.md.

Usage: python bench/bench_drafts.py [--model qwen2.5-coder-0.5b-instruct] [--prompts 3]
       [--max-tokens 128] [--drafts 2,4] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import markdown_table, write_section  # noqa: E402

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"


def code_samples(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(command, code) a coding agent printed (mini-swe-agent's `sed -n` / `cat` of code)."""
    from paste.patterns.loaders import load_folder

    found = []
    for trace in load_folder(TRACES / "mini-swe-agent-gemini3pro-swebv").traces:
        for step in trace.steps:
            out, call = step.output or "", step.call
            if (call is not None and "def " in out and 600 < len(out) < 2500
                    and str(call.arguments.get("command", "")).startswith(("sed -n", "cat "))):
                found.append((call.arguments["command"], out))
    return rng.sample(found, n)


def code_prompt(command: str, code: str) -> str:
    """The code rewrite asked of the model: the code again, a comment above every `def`."""
    return (f"Here is the output of `{command}`:\n{code}\n\nRewrite this code exactly, adding "
            "a one-line comment above every `def`. Output only the code.")


def code_prompts(rng: random.Random, n: int) -> list[str]:
    """Code a coding agent printed (mini-swe-agent), to be rewritten with comments."""
    return [code_prompt(cmd, out) for cmd, out in code_samples(rng, n)]


def record_prompts(rng: random.Random, n: int) -> list[str]:
    """Reservations a tau-bench agent looked up, to be restated flight by flight."""
    from paste.patterns.loaders import load_folder

    found = [step.output for trace in load_folder(TRACES / "tau-bench-gpt4o-airline").traces
             for step in trace.steps
             if step.call is not None and step.call.name == "get_reservation_details"
             and (step.output or "").startswith("{")]
    return [f"get_reservation_details returned:\n{out}\n\nList every flight of this "
            "reservation as one JSON object per line with its origin, destination, "
            "flight_number, date and price." for out in rng.sample(found, n)]


def question_prompts(rng: random.Random, n: int) -> list[str]:
    """HotpotQA questions (FireAct), answered without any text to copy from."""
    data = json.loads(next((TRACES / "fireact-hotpotqa").glob("*.json")).read_text())
    questions = []
    for item in data.values():
        first = next(m for m in item["traj"] if m.get("role") == "user")["content"]
        questions.append(first.strip().splitlines()[-1].removeprefix("Question:").strip())
    return [f"Answer in one paragraph, explaining your reasoning: {q}"
            for q in rng.sample(questions, n)]


def run(engine, prompts: list[list[int]], max_tokens: int, batch: int,
        drafts: int) -> tuple[float, list]:
    """Generates every prompt, `batch` at a time, with up to `drafts` draft tokens per step;
    wall seconds and the outputs."""
    from paste.engine.request import GenerationParams

    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, num_draft_tokens=drafts)
    outs = []
    t0 = time.perf_counter()
    for i in range(0, len(prompts), batch):
        outs += engine.generate(prompts[i : i + batch], params)
    return time.perf_counter() - t0, outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--prompts", type=int, default=3, help="prompts per workload")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--drafts", default="2,4", help="num_draft_tokens settings to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PASTE_NUM_THREADS",
                                                                          "2")))
    args = parser.parse_args()
    from paste.engine.engine import Engine

    rng = random.Random(args.seed)
    workloads = {"code rewrite (mini-swe-agent)": code_prompts(rng, args.prompts),
                 "records restated (tau-bench)": record_prompts(rng, args.prompts),
                 "free answer (FireAct)": question_prompts(rng, args.prompts)}
    fixed = [int(k) for k in args.drafts.split(",")]
    # (label, draft tokens, adaptive): the adaptive setting drafts up to the largest k
    settings = [("off", 0, False)] + [(str(k), k, False) for k in fixed] + [
        (f"{max(fixed)} adaptive", max(fixed), True)]
    # Drafting engine: the step-cost table is measured at load (engine/step_costs.py); the
    # fixed settings run with it cleared, so every setting shares one engine and its plans.
    engine = Engine(args.model, num_threads=args.threads, seed=0, num_draft_tokens=max(fixed))
    loop = engine.core.loop
    costs = list(engine.core.draft_step_costs)
    try:
        table = []
        for name, texts in workloads.items():
            ids = [engine.chat_prompt([{"role": "user", "content": t}]) for t in texts]
            run(engine, ids, 1, len(ids), 0)  # every prompt's KV cached before any timing
            for batch in (1, len(ids)):
                results = {}
                for label, k, adaptive in settings:  # same prompts, back to back
                    loop.set_draft_step_costs(costs if adaptive else [])
                    d0, a0, s0 = (loop.stats.num_draft_tokens,
                                  loop.stats.num_accepted_draft_tokens, engine.core.num_steps)
                    secs, outs = run(engine, ids, args.max_tokens, batch, k)
                    results[label] = (secs, outs, loop.stats.num_draft_tokens - d0,
                                      loop.stats.num_accepted_draft_tokens - a0,
                                      engine.core.num_steps - s0)
                base_secs, base_outs = results["off"][0], results["off"][1]
                tokens = sum(len(o.token_ids) for o in base_outs)
                for label, k, _adaptive in settings:
                    secs, outs, drafted, accepted, steps = results[label]
                    same = [o.token_ids for o in outs] == [o.token_ids for o in base_outs]
                    row = [name, str(batch), label, str(tokens),
                           f"{tokens / secs:.1f}", f"{base_secs / secs:.2f}x",
                           str(steps), "-" if k == 0 else f"{accepted}/{drafted}",
                           "-" if k == 0 else ("yes" if same else "NO")]
                    table.append(row)
                    print(" | ".join(row), flush=True)
    finally:
        engine.shutdown()
    body = (
        f"Model {args.model} ({engine.info.dtype}), greedy, {args.max_tokens} new tokens per prompt, "
        f"{args.prompts} prompts per workload drawn with seed {args.seed}, {args.threads} "
        "torch threads; draft n-grams 4 down to 2 tokens (EngineConfig defaults). 'batch' "
        "prompts run at once; the prompts' KV is cached before timing (prefix cache), so every "
        "setting's tok/s is decoding; each drafted run follows the baseline on the same "
        "prompts. "
        "'accepted' counts accepted / verified draft tokens; 'same output' checks every token "
        "against the run without drafts. 'adaptive' keeps, each step, the draft lengths of "
        "highest expected tokens per step cost (EngineConfig.adaptive_drafts: the cost of a "
        "step of r query rows measured at load, each request's acceptance so far); the fixed "
        "settings verify every proposed draft. Step cost measured at load, relative to one "
        "row: " + ", ".join(f"{r} rows {costs[r - 1]:.2f}" for r in (2, 3, 5, 9, 17)
                          if r <= len(costs)) + ".\n\n"
        + markdown_table(["workload", "batch", "draft tokens", "tokens", "tok/s",
                          "vs off", "model steps", "accepted", "same output"], table)
    )
    write_section("bench_drafts", body,
                  f"python bench/bench_drafts.py --model {args.model} --prompts "
                  f"{args.prompts} --max-tokens {args.max_tokens} --drafts {args.drafts} "
                  f"--seed {args.seed}")


if __name__ == "__main__":
    main()
