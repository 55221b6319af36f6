#!/usr/bin/env bash
# Sets up the daily GitHub issue triage of examples/github_triage.md: the GitHub credential, your
# Slack account linked to you, the cron job; then runs it once. Secrets stay in EMBER_HOME/.env.
#
#   REPO=acme/widgets SLACK_MEMBER_ID=U0123ABC ./github_triage.sh
#   (optional) CHANNEL="#team" SCHEDULE="every weekday at 9am" TIMEZONE=Europe/Berlin
set -euo pipefail

: "${REPO:?set REPO=OWNER/NAME, the repository to triage}"
: "${SLACK_MEMBER_ID:?set SLACK_MEMBER_ID=U0123ABC, your Slack member id}"
CHANNEL=${CHANNEL:-#team}
SCHEDULE=${SCHEDULE:-every weekday at 9am}
home=${EMBER_HOME:-$HOME/.ember}

for name in GITHUB_TOKEN SLACK_BOT_TOKEN SLACK_APP_TOKEN; do
  if ! grep -q "^$name=" "$home/.env" 2>/dev/null; then
    echo "$name is not in $home/.env: see 'What you need' in examples/github_triage.md" >&2
    exit 2
  fi
done

if ! grep -q '^\[http\.credentials\.github\]' "$home/config.toml" 2>/dev/null; then
  cat >> "$home/config.toml" <<'TOML'

[http.credentials.github]
value = "Bearer ${GITHUB_TOKEN}"
hosts = ["api.github.com"]
TOML
  echo "added [http.credentials.github] to $home/config.toml"
fi
ember config show > /dev/null   # stops here, with the reason, when config.toml does not load

ember gateway link "slack:$SLACK_MEMBER_ID" --person owner

task="Pull the issues opened in $REPO since the last run from the GitHub API: \
GET https://api.github.com/repos/$REPO/issues?state=open&per_page=50&since=<the last run's time> with credential github, \
following the Link header's next pages; skip pull requests (they have a pull_request field) and issues created \
before the last run. Classify each by severity (critical, high, medium or low), write a one-line summary of each, \
and post the list, most severe first."
if ember cron show issue-triage > /dev/null 2>&1; then
  echo "the job issue-triage exists already: ember cron show issue-triage"
else
  ember cron add "$SCHEDULE" "$task" --name issue-triage --deliver "slack:$CHANNEL" ${TIMEZONE:+--timezone "$TIMEZONE"}
fi

echo "Running it once now (the gateway delivers it if it runs, else this command does):"
ember cron run-now issue-triage
ember cron runs issue-triage --limit 1
echo "Keep 'ember gateway run' running for the daily runs and for your replies in the post's thread."
