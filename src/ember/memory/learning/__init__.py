"""The learning loop: after a turn is answered, what Ember takes from it (lessons, USER.md
items, skills), on the cheap model, off the hot path; and what it noted, listed and undone."""
