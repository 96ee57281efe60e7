"""paste.tools.registry: schema generation, argument validation, options and typed errors."""

import enum
from typing import Literal

import pydantic
import pytest

from paste.errors import InvalidArgumentError
from paste.patterns.loaders.openai_messages import tool_params
from paste.tools import (
    DuplicateToolError,
    EffectClass,
    SpeculationPolicy,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolRegistry,
    UnknownToolError,
)
from paste.tools.results import ToolResult


class Unit(str, enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


class Window(pydantic.BaseModel):
    start: int
    end: int


def get_weather(
    city: str,
    days: int = 3,
    unit: Unit = Unit.CELSIUS,
    mode: Literal["brief", "full"] = "brief",
    window: Window | None = None,
) -> dict:
    """Get the weather forecast for a city.

    Args:
        city: City name, e.g. "Oslo".
        days: Number of days to forecast.
        mode: How much detail to return.
    """
    return {"city": city, "days": days}


def test_openai_schema_for_a_sample_function():
    registry = ToolRegistry()
    registry.add_function(get_weather, effect="read_only")
    assert registry.openai_tools() == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather forecast for a city.",
                "parameters": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "city": {"type": "string", "description": 'City name, e.g. "Oslo".'},
                        "days": {
                            "type": "integer",
                            "default": 3,
                            "description": "Number of days to forecast.",
                        },
                        "unit": {"$ref": "#/$defs/Unit", "default": "c"},
                        "mode": {
                            "type": "string",
                            "enum": ["brief", "full"],
                            "default": "brief",
                            "description": "How much detail to return.",
                        },
                        "window": {
                            "anyOf": [{"$ref": "#/$defs/Window"}, {"type": "null"}],
                            "default": None,
                        },
                    },
                    "required": ["city"],
                    "$defs": {
                        "Unit": {"type": "string", "enum": ["c", "f"], "title": "Unit"},
                        "Window": {
                            "type": "object",
                            "properties": {
                                "start": {"type": "integer"},
                                "end": {"type": "integer"},
                            },
                            "required": ["start", "end"],
                            "title": "Window",
                        },
                    },
                },
            },
        }
    ]


def test_validation_coerces_lax_values_and_builds_models():
    registry = ToolRegistry()
    spec = registry.add_function(get_weather)
    assert spec.validator.validate(
        {"city": "Oslo", "days": "5", "unit": "f", "window": {"start": "1", "end": 2}}
    ) == {
        "city": "Oslo",
        "days": 5,
        "unit": Unit.FAHRENHEIT,
        "mode": "brief",
        "window": Window(start=1, end=2),
    }


def test_validation_reports_every_problem_sorted_by_location():
    spec = ToolRegistry().add_function(get_weather)
    with pytest.raises(ToolArgumentsError) as info:
        spec.validator.validate({"days": 2.5, "mode": "long", "color": "red"})
    assert isinstance(info.value, ValueError)
    assert str(info.value) == (
        "city: missing required argument; "
        "color: unknown argument; "
        "days: Input should be a valid integer, got a number with a fractional part; "
        "mode: Input should be 'brief' or 'full'"
    )


def test_parameter_names_that_shadow_basemodel_attributes_work():
    registry = ToolRegistry()

    @registry.tool(effect="pure")
    def dump(json: str, schema: int = 0) -> str:
        return json * schema

    spec = registry.get("dump")
    assert spec.validator.validate({"json": "ab", "schema": 2}) == {"json": "ab", "schema": 2}
    assert spec.invoke({"json": "ab", "schema": 2}) == "abab"
    assert list(spec.parameters["properties"]) == ["json", "schema"]


def test_decorator_options_are_kept_on_the_spec():
    registry = ToolRegistry()
    policy = SpeculationPolicy(allowed=lambda args: args["url"].startswith("https://docs."))

    def fresh(arguments, previous: ToolResult) -> bool:
        return previous.content != "stale"

    @registry.tool(
        effect="read_only",
        timeout_s=5,
        max_concurrency=2,
        name="fetch",
        description="Fetch a page.",
        freshness=fresh,
        speculation=policy,
    )
    async def fetch_url(url: str) -> str:
        """Ignored because description= is given."""
        return url

    spec = registry.get("fetch")
    assert (spec.name, spec.description, spec.effect, spec.timeout_s, spec.max_concurrency) == (
        "fetch",
        "Fetch a page.",
        EffectClass.READ_ONLY,
        5,
        2,
    )
    assert spec.is_async is True and spec.isolation == "thread"
    assert spec.may_speculate({"url": "https://docs.python.org"}) is True
    assert spec.may_speculate({"url": "https://evil.example"}) is False
    assert registry.names() == ["fetch"] and "fetch" in registry and len(registry) == 1


def test_speculation_gate_follows_effect_class_and_sandbox():
    registry = ToolRegistry()
    registry.add_function(get_weather, name="pure_tool", effect="pure")
    registry.add_function(get_weather, name="idem", effect="idempotent")
    registry.add_function(get_weather, name="default")
    registry.add_function(get_weather, name="boxed", sandbox=lambda **kwargs: "sandboxed")
    gates = {n: registry.get(n).may_speculate({}) for n in registry.names()}
    assert gates == {"pure_tool": True, "idem": False, "default": False, "boxed": True}
    assert registry.get("default").effect is EffectClass.SIDE_EFFECT


def test_freshness_check_defaults_to_fresh_and_treats_errors_as_stale():
    registry = ToolRegistry()
    previous = ToolResult("c", "t", True, "x", None, None, 0.0, 0.0, 0.0, 0.0)
    plain = registry.add_function(get_weather, name="plain")
    raising = registry.add_function(get_weather, name="raising", freshness=lambda a, r: 1 / 0)
    assert plain.is_fresh({}, previous) is True
    assert raising.is_fresh({}, previous) is False


def test_typed_registration_and_lookup_errors():
    registry = ToolRegistry()
    registry.add_function(get_weather)
    with pytest.raises(UnknownToolError) as info:
        registry.get("nope")
    assert str(info.value) == "unknown tool 'nope'"
    assert isinstance(info.value, InvalidArgumentError)
    with pytest.raises(DuplicateToolError):
        registry.add_function(get_weather)
    with pytest.raises(ToolDefinitionError, match="effect must be one of"):
        registry.add_function(get_weather, name="x", effect="dangerous")
    with pytest.raises(ToolDefinitionError, match="timeout_s must be > 0"):
        registry.add_function(get_weather, name="y", timeout_s=0)
    with pytest.raises(ToolDefinitionError, match="max_concurrency must be >= 1"):
        registry.add_function(get_weather, name="z", max_concurrency=0)

    def varargs(*paths: str) -> str:
        return ""

    with pytest.raises(ToolDefinitionError, match="tools take named arguments only"):
        registry.add_function(varargs)
    with pytest.raises(ToolDefinitionError, match="isolation='process' needs a module-level"):
        registry.add_function(lambda: 1, name="lam", isolation="process")
    assert registry.names() == ["get_weather"]


def test_callable_objects_and_partials_become_tools():
    import functools

    class Scale:
        """Scale a number.

        Args:
            x: The number.
        """

        async def __call__(self, x: float) -> float:
            return 2 * x

    def power(base: int, exp: int) -> int:
        return base**exp

    registry = ToolRegistry()
    scale = registry.add_function(Scale(), name="scale")
    square = registry.add_function(functools.partial(power, exp=2), name="square")
    assert scale.is_async is True and square.is_async is False
    assert scale.parameters["properties"] == {"x": {"type": "number", "description": "The number."}}
    assert square.parameters["properties"] == {
        "base": {"type": "integer"},
        "exp": {"type": "integer", "default": 2},
    }
    assert square.invoke(square.validator.validate({"base": 3})) == 9


def test_tool_params_of_the_registry_lists_each_tools_required_parameters():
    registry = ToolRegistry()
    registry.add_function(get_weather, effect="read_only")

    def ping() -> str:
        """Ping."""
        return "pong"

    registry.add_function(ping, effect="read_only")
    assert tool_params(registry.openai_tools()) == {"get_weather": ("city",), "ping": ()}
