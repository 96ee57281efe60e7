"""ToolRegistry: the set of tools a session may call, from Python callables and MCP servers.

Python tools are registered with the `tool` decorator; their parameters schema comes from type
hints and the docstring (see paste.tools.signature for coercion rules). MCP tools are listed
from a server started by `add_mcp_server`; their inputSchema is used as given (validation via
paste.tools.json_arguments). Both become immutable ToolSpecs looked up by name.

Lifetime: the registry owns the MCP server connections and the event-loop thread they run on
(started lazily by the first add_mcp_server); `close()` stops them. A ToolExecutor holds a
registry reference but never closes it. Registration is thread-safe; registering while calls
run is allowed (a call sees the spec that existed when it was submitted).
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypedDict, TypeVar

from paste.tools.docstrings import parse_docstring
from paste.tools.errors import DuplicateToolError, ToolDefinitionError, UnknownToolError
from paste.tools.json_arguments import JsonSchemaArguments
from paste.tools.loop_thread import LoopThread
from paste.tools.signature import SignatureArguments
from paste.tools.spec import (
    EffectClass,
    EffectClassifier,
    FreshnessCheck,
    Isolation,
    Sandbox,
    SpeculationPolicy,
    ToolSpec,
)
from paste.tools.transaction import Transaction

if TYPE_CHECKING:
    from typing_extensions import Unpack

F = TypeVar("F", bound=Callable[..., Any])


class ToolOptions(TypedDict, total=False):
    """Keyword options of `ToolRegistry.tool`: names, meaning and defaults as in add_function."""

    effect: EffectClass | str
    timeout_s: float
    max_concurrency: int
    name: str | None
    description: str | None
    freshness: FreshnessCheck | None
    sandbox: Sandbox | None
    speculation: SpeculationPolicy | None
    isolation: Isolation
    effect_for: EffectClassifier | None
    cpu_bound: bool
    transaction: Transaction | None


class ToolRegistry:
    """Name -> ToolSpec map plus the MCP connections some of the specs call through."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, ToolSpec] = {}
        self._mcp_loop: LoopThread | None = None
        self._mcp_connections: list[Any] = []
        self._closed = False

    # -- Python tools -------------------------------------------------------------------------

    def tool(self, **options: Unpack[ToolOptions]) -> Callable[[F], F]:
        """Decorator form of `add_function`, with the same keyword options; returns fn unchanged."""

        def decorator(fn: F) -> F:
            self.add_function(fn, **options)
            return fn

        return decorator

    def add_function(
        self,
        fn: Callable[..., Any],
        *,
        effect: EffectClass | str = EffectClass.SIDE_EFFECT,
        timeout_s: float = 30.0,
        max_concurrency: int = 8,
        name: str | None = None,
        description: str | None = None,
        freshness: FreshnessCheck | None = None,
        sandbox: Sandbox | None = None,
        speculation: SpeculationPolicy | None = None,
        isolation: Isolation = "thread",
        effect_for: EffectClassifier | None = None,
        cpu_bound: bool = False,
        transaction: Transaction | None = None,
    ) -> ToolSpec:
        """Register a sync or async function as a tool and return its spec.

        isolation="process" runs each call in a fresh subprocess (the function must be a
        module-level, importable callable with picklable arguments). effect_for(arguments)
        classifies each call on its own (ToolSpec.call_effect); cpu_bound=True marks calls
        that keep a core busy (speculation admits them only while a CPU slot is free).
        transaction(**kwargs) -> Staged runs side-effecting calls speculatively on a private
        copy of their state (paste.tools.transaction); not with isolation="process".
        """
        if not callable(fn):
            raise ToolDefinitionError(f"a tool must be callable, got {fn!r}")
        if isolation not in ("thread", "process"):
            raise ToolDefinitionError(f"isolation must be 'thread' or 'process', got {isolation!r}")
        if isolation == "process":
            _check_picklable(fn)
            if sandbox is not None:
                _check_picklable(sandbox)
        doc = parse_docstring(inspect.getdoc(fn))
        arguments = SignatureArguments(fn, doc)
        spec = ToolSpec(
            name=name or str(getattr(fn, "__name__", "")),
            description=description if description is not None else doc.summary,
            parameters=arguments.parameters,
            validator=arguments,
            invoke=lambda kwargs: fn(**kwargs),
            is_async=_is_async_callable(fn),
            effect=_effect(effect),
            timeout_s=timeout_s,
            max_concurrency=max_concurrency,
            isolation=isolation,
            target=fn,
            freshness=freshness,
            sandbox=sandbox,
            speculation=speculation,
            effect_for=effect_for,
            cpu_bound=cpu_bound,
            transaction=transaction,
        )
        self.add_spec(spec)
        return spec

    # -- any spec -----------------------------------------------------------------------------

    def add_spec(self, spec: ToolSpec) -> None:
        """Register a ready spec; raise DuplicateToolError if the name is taken."""
        _check_options(spec)
        with self._lock:
            if spec.name in self._specs:
                raise DuplicateToolError(f"a tool named {spec.name!r} is already registered")
            self._specs[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        """The spec named `name`; raise UnknownToolError if there is none."""
        with self._lock:
            spec = self._specs.get(name)
        if spec is None:
            raise UnknownToolError(f"unknown tool {name!r}")
        return spec

    def names(self) -> list[str]:
        """Registered tool names in registration order."""
        with self._lock:
            return list(self._specs)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._specs

    def __len__(self) -> int:
        with self._lock:
            return len(self._specs)

    def openai_tools(self) -> list[dict[str, Any]]:
        """OpenAI function-tool schemas of every tool, in registration order (fresh dicts)."""
        with self._lock:
            specs = list(self._specs.values())
        return [spec.openai_tool() for spec in specs]

    # -- MCP ----------------------------------------------------------------------------------

    def add_mcp_server(
        self,
        cmd: Sequence[str],
        env: Mapping[str, str] | None = None,
        prefix: str | None = None,
        *,
        timeout_s: float = 30.0,
        max_concurrency: int = 8,
        errlog: TextIO | None = None,
    ) -> list[ToolSpec]:
        """Start an MCP server (stdio), register all its tools as `<prefix><name>`; return them.

        `env` is added to a minimal inherited environment (the SDK's default: PATH, HOME, ...).
        Server stderr goes to `errlog` (default sys.stderr). If any tool cannot be registered
        (name clash, invalid schema) the server is stopped and nothing is registered.
        """
        from paste.tools.mcp_client import McpServerConnection, effect_from_annotations

        with self._lock:
            if self._closed:
                raise ToolDefinitionError("the registry is closed")
            if self._mcp_loop is None:
                self._mcp_loop = LoopThread("paste-mcp")
            loop = self._mcp_loop
        connection = McpServerConnection(cmd, loop, env=env, errlog=errlog)
        try:
            specs = [
                _mcp_spec(connection, tool, prefix or "", effect_from_annotations(tool.annotations),
                          timeout_s, max_concurrency)
                for tool in connection.list_tools()
            ]  # fmt: skip
            with self._lock:
                taken = [s.name for s in specs if s.name in self._specs]
                if taken:
                    raise DuplicateToolError(f"MCP tools clash with registered tools: {taken}")
                for spec in specs:
                    _check_options(spec)
                    self._specs[spec.name] = spec
                self._mcp_connections.append(connection)
        except BaseException:
            connection.close()
            raise
        return specs

    def close(self) -> None:
        """Stop every MCP server and the MCP loop thread (idempotent). Python tools stay usable."""
        with self._lock:
            self._closed = True
            connections, self._mcp_connections = self._mcp_connections, []
            loop, self._mcp_loop = self._mcp_loop, None
        for connection in connections:
            connection.close()
        if loop is not None:
            loop.close()


def _mcp_spec(
    connection: Any, tool: Any, prefix: str, effect: EffectClass, timeout_s: float, max_conc: int
) -> ToolSpec:
    remote_name = tool.name
    arguments = JsonSchemaArguments(tool.input_schema)
    parameters = {k: v for k, v in arguments.parameters.items() if k != "title"}

    async def invoke(kwargs: dict[str, Any]) -> str:
        return await asyncio.wrap_future(connection.call(remote_name, kwargs))

    return ToolSpec(
        name=prefix + remote_name,
        description=tool.description or "",
        parameters=parameters,
        validator=arguments,
        invoke=invoke,
        is_async=True,
        effect=effect,
        timeout_s=timeout_s,
        max_concurrency=max_conc,
        isolation="mcp",
        metadata={"mcp_server": list(connection.cmd), "mcp_name": remote_name},
    )


def _effect(effect: EffectClass | str) -> EffectClass:
    try:
        return EffectClass(effect)
    except ValueError:
        allowed = ", ".join(e.value for e in EffectClass)
        raise ToolDefinitionError(f"effect must be one of {allowed}; got {effect!r}") from None


def _check_options(spec: ToolSpec) -> None:
    if not spec.name:
        raise ToolDefinitionError("a tool needs a non-empty name")
    if not spec.timeout_s > 0:
        raise ToolDefinitionError(
            f"tool {spec.name!r}: timeout_s must be > 0, got {spec.timeout_s}"
        )
    if spec.max_concurrency < 1:
        raise ToolDefinitionError(
            f"tool {spec.name!r}: max_concurrency must be >= 1, got {spec.max_concurrency}"
        )
    if spec.effect_for is not None and not callable(spec.effect_for):
        raise ToolDefinitionError(
            f"tool {spec.name!r}: effect_for must be callable, got {spec.effect_for!r}"
        )
    if not isinstance(spec.cpu_bound, bool):
        raise ToolDefinitionError(
            f"tool {spec.name!r}: cpu_bound must be a bool, got {spec.cpu_bound!r}"
        )
    if spec.transaction is not None:
        if not callable(spec.transaction):
            raise ToolDefinitionError(
                f"tool {spec.name!r}: transaction must be callable, got {spec.transaction!r}"
            )
        if spec.isolation != "thread":
            raise ToolDefinitionError(
                f"tool {spec.name!r}: a transaction's commit and discard are closures, so it "
                f"needs isolation='thread', not {spec.isolation!r}"
            )


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    """async def functions, partials of them and objects with an async __call__."""
    call = fn if inspect.isroutine(fn) or hasattr(fn, "func") else type(fn).__call__
    return inspect.iscoroutinefunction(call)


def _check_picklable(fn: Callable[..., Any]) -> None:
    try:
        pickle.dumps(fn)
    except Exception as e:
        raise ToolDefinitionError(
            f"isolation='process' needs a module-level, importable function; {fn!r} is not: {e}"
        ) from None
