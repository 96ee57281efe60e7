"""Agent frameworks against the server, one tool round trip each (tracing disabled): the
OpenAI Agents SDK over Responses and over Chat Completions, LangChain's ChatOpenAI with
bound tools, and a LangGraph ReAct agent. The scripted model calls get_weather until its
result is in the conversation, then answers; each framework runs the tool itself."""

from __future__ import annotations

import asyncio

import pytest

from test_server_support import track_client

CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
ANSWER = "It is 22 C in Paris."


def weather_script(prompt: str) -> str:
    return ANSWER if "<|im_start|>tool\n22 C in Paris<|im_end|>" in prompt else CALL


def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"22 C in {city}"


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
def test_openai_agents_sdk_tool_round_trip(engine, server, api):
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    model_cls = (agents.OpenAIResponsesModel if api == "responses"
                 else agents.OpenAIChatCompletionsModel)

    async def run():  # the client is closed inside the loop that used it
        async with AsyncOpenAI(base_url=server.url + "/v1", api_key="unused",
                               max_retries=0) as client:
            agent = agents.Agent(name="weather", instructions="Answer with the weather.",
                                 model=model_cls(model="tiny", openai_client=client),
                                 tools=[agents.function_tool(get_weather)])
            return await agents.Runner.run(agent, "Weather in Paris?")

    with engine.scripted(weather_script):
        result = asyncio.run(run())
    assert result.final_output == ANSWER
    outputs = [item.output for item in result.new_items if item.type == "tool_call_output_item"]
    assert outputs == ["22 C in Paris"]


@pytest.mark.parametrize("memory", ["conversation_id", "session"])
def test_openai_agents_sdk_keeps_its_history_in_a_conversation(engine, server, memory):
    """Two runs over one Conversations API conversation: server-managed (the SDK names it in
    every request and sends only new items) or the SDK's OpenAIConversationsSession (it
    writes the items and resends them); either way the second run sees the first."""
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)

    async def run():
        async with AsyncOpenAI(base_url=server.url + "/v1", api_key="unused",
                               max_retries=0) as client:
            agent = agents.Agent(name="weather", instructions="Answer with the weather.",
                                 model=agents.OpenAIResponsesModel(model="tiny",
                                                                   openai_client=client),
                                 tools=[agents.function_tool(get_weather)])
            conv = await client.conversations.create()
            kwargs = ({"conversation_id": conv.id} if memory == "conversation_id" else
                      {"session": agents.OpenAIConversationsSession(
                          conversation_id=conv.id, openai_client=client)})
            first = await agents.Runner.run(agent, "Weather in Paris?", **kwargs)
            second = await agents.Runner.run(agent, "And tomorrow?", **kwargs)
            items = [i async for i in client.conversations.items.list(conv.id, order="asc")]
            return first, second, items

    with engine.scripted(weather_script):
        first, second, items = asyncio.run(run())
    assert first.final_output == second.final_output == ANSWER
    prompt = engine.prompts[-1]  # the second run's: the whole first run, then its question
    assert (prompt.index("Weather in Paris?") < prompt.index("22 C in Paris")
            < prompt.index(ANSWER) < prompt.index("And tomorrow?"))
    assert [i.type for i in items] == ["message", "function_call", "function_call_output",
                                       "message", "message", "message"]
    assert [i.content[0].text for i in items if i.type == "message"] == [
        "Weather in Paris?", ANSWER, "And tomorrow?", ANSWER]


def test_langchain_chat_openai_bound_tools_round_trip(engine, server):
    pytest.importorskip("langchain_openai")
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="tiny", base_url=server.url + "/v1", api_key="unused",
                      max_retries=0, temperature=0)
    track_client(chat.root_client)  # closed when the module ends (test_server_support)
    llm = chat.bind_tools([tool(get_weather)])
    with engine.scripted(weather_script):
        ai = llm.invoke([HumanMessage("Weather in Paris?")])
        assert [(c["name"], c["args"]) for c in ai.tool_calls] == [
            ("get_weather", {"city": "Paris"})]
        answer = llm.invoke([HumanMessage("Weather in Paris?"), ai,
                             ToolMessage("22 C in Paris", tool_call_id=ai.tool_calls[0]["id"])])
    assert answer.content == ANSWER and answer.tool_calls == []


def test_langgraph_react_agent_round_trip(engine, server):
    pytest.importorskip("langgraph")
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    llm = ChatOpenAI(model="tiny", base_url=server.url + "/v1", api_key="unused",
                     max_retries=0, temperature=0)
    track_client(llm.root_client)  # closed when the module ends (test_server_support)
    graph = create_react_agent(llm, [tool(get_weather)])
    with engine.scripted(weather_script):
        state = graph.invoke({"messages": [("user", "Weather in Paris?")]})
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]
    assert state["messages"][2].content == "22 C in Paris"
    assert state["messages"][-1].content == ANSWER
