"""Framework adapters (SPEC S11): threadkeep as another framework's session store.

Each adapter lives in its own module behind its own extra and imports its framework
only there, so ``import threadkeep`` never needs one:

* ``openai_agents.ThreadkeepSession`` — the OpenAI Agents SDK ``Session`` (extra
  ``openai-agents``);
* ``langchain.ThreadkeepChatMessageHistory`` — langchain-core's
  ``BaseChatMessageHistory`` (extra ``langchain``);
* ``chatkit.ThreadkeepStore`` — OpenAI ChatKit's ``Store`` (extra ``chatkit``).

They share :mod:`threadkeep.adapters.sessions`: how a framework's session name becomes
one conversation, and how an adapter opens its store.
"""
