#!/usr/bin/env bash
# The two requests of examples/build_project.md in a fresh folder (./build-demo), with the model
# calls and tools of each, then the skill Ember learned in between.
set -euo pipefail

mkdir -p build-demo && cd build-demo
summary='import json, sys
turn = json.load(sys.stdin)
print(turn["answer"])
print("model calls:", turn["usage"]["steps"], "| tools:", ", ".join(c["name"] for c in turn["tool_calls"]))'

for request in "Build a todo web app with login, with tests, in the folder todo/." \
               "Build a notes web app with login, with tests, in the folder notes/."; do
  printf '\n$ ember run "%s"\n' "$request"
  ember run --json "$request" | python3 -c "$summary"
  [ -z "${first_done:-}" ] && { ember skills list; first_done=1; }
done
