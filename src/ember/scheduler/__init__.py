"""Scheduled jobs: a task run on a schedule, its result delivered to a chat through the outbox.

``schedule.py`` reads when a job runs, ``jobs.py`` keeps jobs and their runs in the store, and
``runner.py`` runs what is due (``ember cron tick``, or inside ``ember gateway run``). See
docs/cron.md.
"""
