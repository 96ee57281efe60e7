"""Grammar-constrained decoding: a request's output must be JSON (of a schema), a regular
expression's match or an EBNF grammar's sentence, between literals.

A request with GenerationParams.grammar (a GrammarSpec) only samples tokens its grammar
allows: each step, before sampling, the rows of such requests get the grammar's token mask
(tokens it forbids go to -inf), and after the loop commits, each request's matcher accepts the
token it decoded. When the grammar is complete only the model's end-of-turn tokens are
allowed, so the turn ends there. The grammar of a spec is

    `prefix` verbatim, a JSON value of `json_schema` (any JSON object when it is None),
    written compactly (no free whitespace: a small model cannot pad it forever), then
    `suffix` verbatim; or one of several such (`choices`); with `regex` (a match of the
    regular expression) or `ebnf` (a sentence of the grammar's `root` rule, in xgrammar's
    EBNF) in place of the JSON

(the suffix closes a tool call whose opening is in the prompt: `}` plus the format's closing
tag; with choices, each tool's name and the text up to its arguments are its prefix). With
`triggers` the output is free text in which every occurrence of a trigger starts one of the
`choices` (each then written whole: prefix, JSON or EBNF sentence, suffix), after which
free text goes on and the turn may end anywhere outside a choice: strict tool calls under
tool_choice "auto" (an xgrammar structural tag; its JSON may hold single whitespace
characters, as models write `{"city": "Paris"}`, but no runs of them to pad with). With
`start_token` (a special token's text, such as Mistral's `[TOOL_CALLS]`) the output is free
until the model writes that token, and the grammar constrains what follows it: a grammar
over text cannot hold a control token (xgrammar masks special tokens), so the engine watches
for it; such a request does not draft (its drafts would pass the token unconstrained). With
`structural` (an xgrammar structural tag's format) the core may hold control tokens as
items of their own (`{"type": "token", "token": "[ARGS]"}`, Mistral's mistral_args calls); a
token the tokenizer lacks is asked for as its text, which a model without it writes. Masks
and matchers come from xgrammar, imported on first use; compiled grammars are cached per
spec. Driven by the engine thread only, like the BatchLoop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paste.errors import InvalidArgumentError

MAX_COMPILED = 256  # compiled grammars kept (by spec); the oldest is dropped beyond


@dataclass(frozen=True)
class GrammarSpec:
    """What a constrained output is: `prefix`, then JSON of `json_schema` (JSON text; None:
    any object) or a match of `regex` or a sentence of `ebnf`, then `suffix`; or, with
    `choices`, any one of those specs (the calls of several tools: each its name as prefix,
    its parameters as schema)."""

    json_schema: str | None = None
    suffix: str = ""
    prefix: str = ""
    choices: tuple[GrammarSpec, ...] = ()
    triggers: tuple[str, ...] = ()  # free text; a trigger starts one of the choices
    regex: str | None = None  # the output matches this regular expression (vLLM guided_regex)
    ebnf: str | None = None  # xgrammar EBNF with a `root` rule (vLLM guided_grammar)
    start_token: str | None = None  # free output until this special token, then the grammar
    # An xgrammar structural tag's format (JSON object text), which may hold control tokens
    # ({"type": "token", "token": "[ARGS]"}) that a grammar over text cannot
    structural: str | None = None

    @property
    def kind(self) -> str:
        """What the core of the output is: "regex", "ebnf", "structural" or "json"."""
        if self.structural is not None:
            return "structural"
        return "regex" if self.regex is not None else "ebnf" if self.ebnf is not None else "json"

    def __post_init__(self) -> None:
        cores = [x for x in (self.json_schema, self.regex, self.ebnf, self.structural)
                 if x is not None]
        if len(cores) > 1:
            raise InvalidArgumentError(
                "a grammar has one of json_schema, regex, ebnf and structural")
        if any(not isinstance(x, str) or not x for x in (self.regex, self.ebnf)
               if x is not None):
            raise InvalidArgumentError("regex and ebnf must be non-empty strings")
        if self.triggers:
            if not self.choices or any(not isinstance(t, str) or not t for t in self.triggers):
                raise InvalidArgumentError("triggers must be non-empty strings, with choices")
            if any(not c.prefix.startswith(self.triggers) for c in self.choices):
                raise InvalidArgumentError("each choice's prefix must start with a trigger")
        if self.choices and (cores or self.suffix or self.prefix):
            raise InvalidArgumentError(
                "a grammar with choices has no schema, regex, ebnf, prefix or suffix")
        if any(not isinstance(c, GrammarSpec) or c.choices for c in self.choices):
            raise InvalidArgumentError("choices must be GrammarSpecs without choices")
        if self.json_schema is not None:
            try:
                schema = json.loads(self.json_schema)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"json_schema is not JSON: {exc}") from None
            if not isinstance(schema, dict):
                raise InvalidArgumentError("json_schema must be a JSON object")
        if self.structural is not None:
            try:
                shape = json.loads(self.structural)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"structural is not JSON: {exc}") from None
            if not isinstance(shape, dict) or not isinstance(shape.get("type"), str):
                raise InvalidArgumentError("structural must be a JSON object with a type")
        if not isinstance(self.suffix, str) or not isinstance(self.prefix, str):
            raise InvalidArgumentError("prefix and suffix must be strings")
        if self.start_token is not None and (
                not isinstance(self.start_token, str) or not self.start_token or self.triggers):
            raise InvalidArgumentError("start_token must be a non-empty string, without triggers")


class GrammarError(InvalidArgumentError):
    """A schema xgrammar cannot compile (an unsupported keyword, a bad reference)."""


def _grammar(xgr: Any, spec: GrammarSpec) -> Any:
    """The xgrammar Grammar of one spec without choices: prefix, JSON (or regex, EBNF),
    suffix."""
    if spec.regex is not None:
        parts = [xgr.Grammar.from_regex(spec.regex)]
    elif spec.ebnf is not None:
        parts = [xgr.Grammar.from_ebnf(spec.ebnf)]
    else:
        schema = spec.json_schema if spec.json_schema is not None else '{"type": "object"}'
        parts = [xgr.Grammar.from_json_schema(schema, any_whitespace=False)]
    if spec.prefix:
        parts.insert(0, xgr.Grammar.from_ebnf(f"root ::= {json.dumps(spec.prefix)}"))
    if spec.suffix:
        parts.append(xgr.Grammar.from_ebnf(f"root ::= {json.dumps(spec.suffix)}"))
    return parts[0] if len(parts) == 1 else xgr.Grammar.concat(*parts)


def _tag_content(choice: GrammarSpec) -> dict[str, Any]:
    """A choice's core as a structural tag's content: its format, EBNF, regex, else its
    JSON schema."""
    if choice.structural is not None:
        return dict(json.loads(choice.structural))
    if choice.regex is not None:
        return {"type": "regex", "pattern": choice.regex}
    if choice.ebnf is not None:
        return {"type": "grammar", "grammar": choice.ebnf}
    schema = choice.json_schema if choice.json_schema is not None else '{"type": "object"}'
    return {"type": "json_schema", "max_whitespace_cnt": 1, "json_schema": json.loads(schema)}


def _whole(spec: GrammarSpec) -> dict[str, Any]:
    """A spec without choices as a structural tag's format: prefix, core, suffix."""
    parts = [{"type": "const_string", "value": spec.prefix}] if spec.prefix else []
    parts.append(_tag_content(spec))
    if spec.suffix:
        parts.append({"type": "const_string", "value": spec.suffix})
    return parts[0] if len(parts) == 1 else {"type": "sequence", "elements": parts}


def _missing_as_text(shape: Any, has: Callable[[str], bool]) -> Any:
    """A structural tag with each token item whose token the tokenizer lacks (`has`) made
    the token's text: a model without the control token writes it as text."""
    if isinstance(shape, list):
        return [_missing_as_text(v, has) for v in shape]
    if not isinstance(shape, dict):
        return shape
    token = shape.get("token")
    if shape.get("type") == "token" and isinstance(token, str) and not has(token):
        return {"type": "const_string", "value": token}
    return {k: v if k == "json_schema" else _missing_as_text(v, has) for k, v in shape.items()}


def _structural_tag(spec: GrammarSpec) -> dict[str, Any]:
    """The xgrammar structural tag of a spec with triggers (free text, each trigger opening
    one of the choices: begin = its prefix, its core, end = its suffix), with a structural
    core, or with choices of which one has one (any one of them)."""
    if spec.triggers:
        tags = [{"begin": c.prefix, "end": c.suffix, "content": _tag_content(c)}
                for c in spec.choices]
        shape = {"type": "triggered_tags", "triggers": list(spec.triggers), "tags": tags}
    elif spec.choices:
        shape = {"type": "or", "elements": [_whole(c) for c in spec.choices]}
    else:
        shape = _whole(spec)
    return {"type": "structural_tag", "format": shape}


class Grammars:
    """The matchers of the requests that have a grammar (see the module docstring)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: list[int]) -> None:
        self._tokenizer = tokenizer
        self._vocab = vocab_size
        self._stop_ids = list(stop_ids)
        self._compiler: Any = None
        self._compiled: dict[GrammarSpec, Any] = {}
        self._matchers: dict[int, Any] = {}
        self._pending: dict[int, tuple[int, GrammarSpec]] = {}  # seq -> (start token id, spec)

    def compile(self, spec: GrammarSpec) -> Any:
        """The compiled grammar of `spec` (cached); GrammarError if it cannot be built."""
        hit = self._compiled.get(spec)
        if hit is not None:
            return hit
        import xgrammar as xgr

        if self._compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(
                self._tokenizer, vocab_size=self._vocab, stop_token_ids=self._stop_ids)
            self._compiler = xgr.GrammarCompiler(info)
        try:
            if spec.triggers or any(c.structural is not None for c in (spec, *spec.choices)):
                tag = _missing_as_text(_structural_tag(spec),
                                       lambda t: self._token_id(t) is not None)
                compiled = self._compiler.compile_structural_tag(json.dumps(tag))
            elif spec.choices:
                compiled = self._compiler.compile_grammar(
                    xgr.Grammar.union(*(_grammar(xgr, c) for c in spec.choices)))
            else:
                compiled = self._compiler.compile_grammar(_grammar(xgr, spec))
        except Exception as exc:  # noqa: BLE001 - xgrammar raises RuntimeError and its own types
            what = {"json": "the JSON schema", "regex": "the regular expression",
                    "ebnf": "the EBNF grammar", "structural": "the structural tag"}[spec.kind]
            raise GrammarError(f"cannot build a grammar from {what}: {exc}") from None
        if len(self._compiled) >= MAX_COMPILED:
            self._compiled.pop(next(iter(self._compiled)))
        self._compiled[spec] = compiled
        return compiled

    def check(self, params: Any) -> None:
        """GrammarError, before anything is queued, if the request's grammar (GenerationParams
        .grammar) cannot be built; compiles and caches it otherwise."""
        if params.grammar is not None:
            self.compile(params.grammar)
            if params.grammar.start_token is not None:
                self.start_id(params.grammar.start_token)

    def start_id(self, token: str) -> int:
        """The id of the special token `token`; GrammarError when the tokenizer has none."""
        tid = self._token_id(token)
        if tid is None:
            raise GrammarError(f"the model's tokenizer has no {token!r} token to start the "
                               f"grammar at")
        return tid

    def _token_id(self, token: str) -> int | None:
        tid = self._tokenizer.convert_tokens_to_ids(token)
        if (not isinstance(tid, int) or not 0 <= tid < self._vocab
                or self._tokenizer.convert_ids_to_tokens(tid) != token):
            return None
        return tid

    def add(self, seq_id: int, spec: GrammarSpec | None) -> None:
        """Constrain sequence `seq_id` by `spec` (nothing for None; with a start token,
        from that token on)."""
        if spec is None:
            return
        if spec.start_token is not None:
            self._pending[seq_id] = (self.start_id(spec.start_token), spec)
            return
        import xgrammar as xgr

        self._matchers[seq_id] = xgr.GrammarMatcher(self.compile(spec))

    def __contains__(self, seq_id: object) -> bool:
        """Whether sequence `seq_id` is constrained now (its start token written)."""
        return seq_id in self._matchers

    def remove(self, seq_id: int) -> None:
        self._matchers.pop(seq_id, None)
        self._pending.pop(seq_id, None)

    def mask(self, logits: Any, seq_ids: list[int]) -> None:
        """Forbid, in place, the tokens each constrained row's grammar does not allow now;
        `seq_ids[i]` is the sequence of logits row i."""
        rows = [(i, self._matchers[s]) for i, s in enumerate(seq_ids) if s in self._matchers]
        if not rows:
            return
        import xgrammar as xgr

        bitmask = xgr.allocate_token_bitmask(len(seq_ids), self._vocab)  # all allowed
        for i, matcher in rows:
            matcher.fill_next_token_bitmask(bitmask, i)
        xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device),
                                        vocab_size=self._vocab)

    def mask_drafted(self, logits: Any, seq_id: int, drafts: list[int]) -> None:
        """Forbid, in place, what the grammar does not allow in each of a drafted sequence's
        len(drafts) + 1 rows (logits [d + 1, V]): row j as if drafts[:j] were accepted. The
        matcher walks the drafts and is rolled back; rows after a draft the grammar refuses
        are left free (verification stops at that draft, whose own row forbids it)."""
        matcher = self._matchers.get(seq_id)
        if matcher is None:
            return
        import xgrammar as xgr

        bitmask = xgr.allocate_token_bitmask(len(drafts) + 1, self._vocab)
        matcher.fill_next_token_bitmask(bitmask, 0)
        walked = 0
        for j, tok in enumerate(drafts):
            if not matcher.is_terminated():  # as accept(): a finished grammar stays put
                if not matcher.accept_token(int(tok)):
                    break
                walked += 1
            matcher.fill_next_token_bitmask(bitmask, j + 1)
        if walked:
            matcher.rollback(walked)
        xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device),
                                        vocab_size=self._vocab)

    def accept(self, seq_ids: list[int], tokens: list[int]) -> None:
        """Each constrained sequence decoded its token: its matcher moves past it (a
        sequence waiting for its start token gets its matcher when it writes it)."""
        for sid, tok in zip(seq_ids, tokens, strict=True):
            pending = self._pending.get(sid)
            if pending is not None:
                if int(tok) == pending[0]:
                    import xgrammar as xgr

                    del self._pending[sid]
                    self._matchers[sid] = xgr.GrammarMatcher(self.compile(pending[1]))
                continue
            matcher = self._matchers.get(sid)
            if matcher is not None and not matcher.is_terminated():
                matcher.accept_token(int(tok))
