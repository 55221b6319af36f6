"""Tools the agent can call: the registry, the ``@tool`` decorator and the built-in toolsets.

Only light modules are imported here; tool modules themselves load when their toolset is used.
"""

from ember.tools.builtin import builtin_registry
from ember.tools.registry import (
    Tool,
    ToolContext,
    ToolDefinitionError,
    ToolError,
    ToolRegistry,
    ToolResult,
    tool,
)

__all__ = [
    "Tool", "ToolContext", "ToolDefinitionError", "ToolError", "ToolRegistry", "ToolResult",
    "builtin_registry", "tool",
]
