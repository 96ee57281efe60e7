"""The model engine: EngineCore step loop over the C++ BatchLoop, ModelRunner, Sampler.

    config.py        EngineConfig
    request.py       GenerationParams, Request (detokenisation, stop strings), RequestOutput
    model_runner.py  ModelRunner: model + paged KV cache + tokenizer; forward(plan) -> logits
    kv_sizing.py     how many KV blocks, by device (vLLM's gpu_memory_utilization on CUDA)
    lora.py          LoRA adapters (PEFT folders) read and placed on paste's fused layers
    lora_runtime.py  LoraRuntime: adapters applied per token row, many in one batch
    core.py          EngineCore: schedule -> forward -> sample -> commit; agent-session turns
    call_events.py   CallScan (which tool-call format to watch), CallEvent (what was seen)
    call_watch.py    CallWatch: the C++ tool-call scanner + trie matcher, one batch per step
    step_loop.py     StepLoop: applies callers' commands between steps, delivers outputs
    engine.py        Engine: thread-safe front (generate, stream, submit_turn), core on a thread
    process_engine.py  ProcessEngine: the same front, core in a child process of its own
    process_child.py   the child process's side of it (StepLoop, outputs back over the pipe)
    lora_ops.py      LoRA loads / unloads a ProcessEngine sent and not answered yet
    stats.py         EngineStats (scheduler / KV snapshot), EngineInfo (max_model_len, vocab)
    attention.py     attention backend registry (cpu | torch | triton | flashinfer)
    sampler.py       batched greedy / temperature / top-k / top-p / min-p sampling, per-request seeds
    penalties.py     logit_bias, presence / frequency / repetition penalties, min_tokens
    pooling.py       embeddings: a prompt pooled from the final hidden states (LAST, MEAN)
    grammar.py       constrained decoding: xgrammar masks (JSON schemas, calls, structural tags)
    models/          llama, qwen2, qwen3 model code, weight loading, KV cache, AttentionMetadata

Import submodules directly (`from paste.engine.engine import Engine`); this package imports
nothing heavy by itself.
"""
