"""The gateway: Ember in the chats people already use (Telegram, Slack, signed webhooks...).

One more door over the same ``Agent`` the terminal uses (docs/gateway.md): messages come in
through channels (``channels/``, one module per platform, all speaking ``channel.Channel``), are
recorded in the inbox before any work starts, run as turns in per-chat order, and every reply
goes out through the durable outbox, marked delivered only when the platform acknowledged it.
"""
