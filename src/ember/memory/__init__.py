"""What Ember remembers and how it learns, over the store's ports.

``search/`` finds past messages and everything else remembered; ``learning/`` turns finished
turns into lessons, USER.md items and skills; ``skills/`` is the SKILL.md library. Episodes,
lessons, the user profile and chat-history import/export are modules of their own here.
"""
