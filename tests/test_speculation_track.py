"""Speculator.track: what a live session's tool schemas give its prediction state (offered
tool names, required parameters, descriptions), and that none of it is kept when predictions
are not restricted to the offered tools."""

from __future__ import annotations

from paste.patterns.loaders.openai_messages import tool_docs, tool_params
from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
from paste.tools import ToolExecutor, ToolRegistry


def _registry() -> ToolRegistry:
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=10)
    def lookup(key: str) -> str:
        """Look a key up in the store."""
        return key

    @reg.tool(timeout_s=10)
    def drop(key: str) -> str:
        return key

    return reg


def test_track_gives_the_state_the_offered_tools_parameters_and_descriptions():
    reg = _registry()
    with ToolExecutor(reg) as executor:
        manager = SpeculationManager(reg, executor, SpeculationConfig(max_waste_ratio=None))
        schemas = reg.openai_tools()
        params, docs = tool_params(schemas), tool_docs(schemas)
        assert docs == {"lookup": "Look a key up in the store."}  # drop has no docstring
        spec = Speculator(manager, lambda tenant: None, lambda: 0.05).track(
            "s", "t", reg.names(), params, docs)
        assert spec.state.tools == frozenset({"lookup", "drop"})
        assert spec.state.params == {"lookup": ("key",), "drop": ("key",)}
        assert spec.state.docs == {"lookup": "Look a key up in the store."}
        unrestricted = Speculator(manager, lambda tenant: None, lambda: 0.05,
                                  offered_tools=False).track("u", "t", reg.names(), params, docs)
        assert (unrestricted.state.tools, unrestricted.state.params,
                unrestricted.state.docs) == (None, None, None)
