"""Skills: ``SKILL.md`` folders in the open Agent Skills format (``format``), the library that
finds and loads them (``library``), and what is counted about their use (``stats``)."""
