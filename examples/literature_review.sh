#!/usr/bin/env bash
# The literature review of examples/literature_review.md, with two papers that disagree:
# "Scaling Laws for Neural Language Models" (web page) and "Training Compute-Optimal Large
# Language Models" (PDF). Any two URLs work:  ./literature_review.sh URL_A URL_B
# Runs in ./literature-review (created), which becomes the workspace where PDFs are saved.
set -euo pipefail

first=${1:-https://arxiv.org/abs/2001.08361}
second=${2:-https://arxiv.org/pdf/2203.15556}
home=${EMBER_HOME:-$HOME/.ember}
mkdir -p literature-review && cd literature-review

step() { printf '\n$ ember run "%s"\n' "$1"; ember run "$1"; }

if ! grep -qi "paper summaries as" "$home/USER.md" 2>/dev/null; then
  step "I prefer paper summaries as: Title, Claim, Evidence, Limits."
fi
summarise() { step "Summarise the paper at $1 (if you read it before, take it from your memory)"; }
summarise "$first"
summarise "$second"
summarise "$first"          # from memory: not fetched again
step "What have I read so far about how to split a compute budget between model size and training data?"
step "Where do the two papers I read contradict each other?"
printf '\nUSER.md:\n'; cat "$home/USER.md"
