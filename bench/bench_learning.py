"""Online learning per completed session, as a server's learning thread does it under the
tenant's lock: PatternStore.update then Predictor.refresh. paste refreshes only what the
update changed; the baseline (what refresh did before) drops every view and rebuilds them all.
Both start from the same mined store (saved once, loaded twice) and learn the same sessions
in the same order; every prediction is checked identical between them.

Per source: a store mined on a seeded sample of sessions, then LEARN further sessions of the
source learned one at a time; per learned session the update's and the refresh's seconds
(their sum is how long the tenant's predictions wait) and the first prediction after it (a
held-out session's first call: paste rebuilds a changed hole's rule orders at its first
query). Medians over the learned sessions.

Then the engine's decode while a tenant's online fit runs (PatternStore.fit_online over a
store learned online from 60 tau-bench sessions, again and again): alone, with the fit on a
thread of the same process (the learning thread holds the GIL, the engine thread waits for it
around every torch op), and with the fit in a child process (server/fitting.py, the server's
default). smollm2-135m-instruct, 1 torch thread (the child gets the other core), greedy,
batches of 4 prompts, 16 tokens each; best of --reps.

Usage (from the repo root): python bench/bench_learning.py [--seed 0] [--learn 8] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402
from _traces import DEFAULT_TRACES, seeded_sources  # noqa: E402
from paste.patterns.mining import mine  # noqa: E402
from paste.patterns.predictor import Predictor  # noqa: E402
from paste.patterns.replay import replay  # noqa: E402
from paste.patterns.store import PatternStore  # noqa: E402

DEFAULT_SOURCES = "mini-swe-agent-gemini3pro-swebv:40,tau-bench-gpt4o-airline:60"


def _learn(store: PatternStore, learn: list, probe, whole: bool) -> tuple[dict, list]:
    """Learns each session of `learn` (update, then refresh: `whole` drops every view
    first); per session the seconds of each step and the probe's first prediction."""
    predictor = Predictor(store)
    times: dict[str, list[float]] = {"update": [], "refresh": [], "first": []}
    predictions = []
    for trace in learn:
        start = time.perf_counter()
        store.update(trace, refit=False)
        times["update"].append(time.perf_counter() - start)
        start = time.perf_counter()
        if whole:
            store.invalidate()
        predictor.refresh()
        times["refresh"].append(time.perf_counter() - start)
        start = time.perf_counter()
        predictions.append(predictor.predict(probe, 5))
        times["first"].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}, predictions


def _decode_under_fits(traces: list, reps: int) -> dict[str, float]:
    """Tokens/s of the engine alone, beside fits on a thread, beside fits in a child."""
    import threading

    from paste.engine.engine import Engine
    from paste.engine.request import GenerationParams
    from paste.server.fitting import ProcessFitter

    engine = Engine("smollm2-135m-instruct", num_threads=1)
    prompts = [engine.tokenizer.encode(f"agent {i}: search the file, then run the tests")
               for i in range(4)]
    params = GenerationParams(max_tokens=16, ignore_eos=True)
    store = PatternStore()
    for trace in traces:
        store.update(trace, refit=False)
    fitter = ProcessFitter()
    fitter.fit(store)  # the child started and warm

    def tok_s() -> float:
        start = time.perf_counter()
        engine.generate(prompts, params)
        return len(prompts) * params.max_tokens / (time.perf_counter() - start)

    out = {}
    for label, fit in (("alone", None), ("thread", store.fit_online),
                       ("child", lambda: fitter.fit(store))):
        stop = threading.Event()
        thread = None
        if fit is not None:
            def loop(fit=fit, stop=stop) -> None:
                while not stop.is_set():
                    fit()
            thread = threading.Thread(target=loop, daemon=True)
            thread.start()
            time.sleep(0.5)
        out[label] = max(tok_s() for _ in range(reps))
        stop.set()
        if thread is not None:
            thread.join()
    fitter.close()
    engine.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--sources", default=DEFAULT_SOURCES,
                        help="source:mined sessions,... (seeded samples of each source)")
    parser.add_argument("--learn", type=int, default=8, help="sessions learned after mining")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for source, count, traces in seeded_sources(args.traces, args.sources, args.seed):
        mined_on, learn = traces[:count], traces[count: count + args.learn]
        probe = next(state for state, _step in replay(traces[count + args.learn]))
        with tempfile.TemporaryDirectory() as tmp:
            mine(mined_on).save(Path(tmp) / "store.json")
            base, base_preds = _learn(PatternStore.load(Path(tmp) / "store.json"), learn,
                                      probe, whole=True)
            ours, our_preds = _learn(PatternStore.load(Path(tmp) / "store.json"), learn,
                                     probe, whole=False)
        if our_preds != base_preds:
            raise SystemExit(f"{source}: predictions differ between the two refreshes")
        print(f"{source}: baseline {base} paste {ours}", flush=True)
        held = (base["update"] + base["refresh"], ours["update"] + ours["refresh"])
        rows.append([
            f"{source} ({len(mined_on)} + {len(learn)} sessions)",
            f"{1000 * base['update']:.0f} / {1000 * ours['update']:.0f}",
            f"{1000 * base['refresh']:.0f} / {1000 * ours['refresh']:.0f}",
            f"{1000 * held[0]:.0f} / {1000 * held[1]:.0f}",
            f"{held[0] / held[1]:.1f}x",
            f"{1000 * base['first']:.2f} / {1000 * ours['first']:.2f}",
        ])
    body = (
        f"A store mined on a seeded sample (seed {args.seed}) of each source's sessions, then "
        f"{args.learn} more sessions learned one at a time (update, then refresh) from two "
        "loads of the same file; whole refresh (baseline) / paste's refresh of what changed, "
        "medians over the learned sessions; every prediction identical between the two.\n\n"
        + markdown_table(
            ["store", "update ms", "refresh ms", "tenant's predictions wait ms",
             "speed-up", "first prediction after ms"],
            rows,
        )
    )
    ((_, count, tau),) = seeded_sources(args.traces, "tau-bench-gpt4o-airline:60", args.seed)
    decode = _decode_under_fits(tau[:count], args.reps)
    print(f"decode tok/s: {decode}", flush=True)
    body += (
        "\n\nThe engine's decode (smollm2-135m-instruct, 1 torch thread, 4 prompts x 16 "
        "tokens, best of " + str(args.reps) + ") while a fit of a store learned online from 60 "
        "tau-bench sessions runs again and again beside it:\n\n"
        + markdown_table(
            ["decode tok/s alone", "fit on a thread of the process", "fit in a child process",
             "child / thread"],
            [[f"{decode['alone']:.1f}", f"{decode['thread']:.1f}", f"{decode['child']:.1f}",
              f"{decode['child'] / decode['thread']:.1f}x"]],
        )
    )
    print(body)
    command = "python bench/bench_learning.py"
    if args.seed != 0 or args.learn != 8 or args.reps != 3:
        command += f" --seed {args.seed} --learn {args.learn} --reps {args.reps}"
    write_section("bench_learning", body, command)


if __name__ == "__main__":
    main()
