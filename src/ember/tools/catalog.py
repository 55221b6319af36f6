"""The toolsets Ember ships: one line of ``BUILTIN_TOOLSETS`` each.

A line gives the toolset's name, the description the model sees while it is not loaded, the
modules that hold its tools, and the tools' names (so the prompt's index needs no import).
A toolset all of whose tools need an optional package names it in ``TOOLSET_REQUIRES`` too (each
tool also declares it with ``@tool(requires=...)``), so that, without the package, the toolset is
left out of the prompt's index without importing its module.

Nothing here imports a tool: ``builtin.py`` builds the registry from these lines, and the MCP
configuration reads the names to keep servers from taking them.
"""

from __future__ import annotations

from ember.tools.base import needs_extra

# (name, description for the model, modules, tool names). A new toolset appends one line here.
BUILTIN_TOOLSETS: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("core", "files and shell in the workspace", ("ember.tools.files", "ember.tools.shell"),
     ("read_file", "write_file", "edit_file", "list_dir", "search_files", "shell")),
    ("files", "patch, move, delete; read PDFs and images", ("ember.tools.files_extra",),
     ("apply_patch", "move_file", "delete_file", "read_pdf", "image_info")),
    ("processes", "background processes", ("ember.tools.processes",),
     ("process_start", "process_output", "process_kill", "process_list")),
    ("ssh", "remote terminal on named SSH hosts", ("ember.tools.ssh",), ("ssh_run", "ssh_upload", "ssh_download")),
    ("code", "run Python, JavaScript or shell code in a sandbox", ("ember.tools.code",), ("run_code",)),
    ("web", "search the web and extract pages as text", ("ember.tools.web",), ("web_search", "web_extract")),
    ("http", "call HTTP APIs with named credentials", ("ember.tools.http",), ("http_request",)),
    ("browser", "drive a real browser: open, read, click, type, screenshot", ("ember.tools.browser",),
     ("browser_open", "browser_snapshot", "browser_click", "browser_type", "browser_select", "browser_press",
      "browser_scroll", "browser_back", "browser_screenshot", "browser_close")),
    ("media", "look at images, speak text, generate images",
     ("ember.tools.vision", "ember.tools.speech", "ember.tools.images"),
     ("vision_analyze", "text_to_speech", "image_generate")),
    ("planning", "a task list, and questions to the user", ("ember.tools.planning",), ("todo", "clarify")),
    ("delegate", "hand sub-tasks to sub-agents", ("ember.tools.delegate",), ("delegate",)),
    ("memory", "search past conversations and lessons; read and update the user profile",
     ("ember.tools.recall", "ember.tools.profile"), ("memory_search", "user_profile")),
    ("skills", "view and manage reusable skills", ("ember.tools.skills",), ("skill_view", "skill_manage")),
    ("schedule", "run a task later or on a schedule, results delivered to a chat", ("ember.tools.schedule",),
     ("schedule_job", "list_jobs", "cancel_job")),
]

# What every tool of a toolset needs, checked with find_spec before the toolset is imported.
TOOLSET_REQUIRES: dict[str, tuple[str, ...]] = {
    "ssh": (needs_extra("asyncssh", "ssh"),),
    "browser": (needs_extra("playwright", "browser"),),
}
