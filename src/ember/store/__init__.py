"""Where Ember keeps what is queried or counted: the storage ports and their backends.

``ports.py`` says what the rest of Ember may ask of a store (one small protocol per domain, and
``Store``, which combines them); the ``*records.py`` modules are the records they speak;
``backends.py`` opens the backend a location names (``sqlite`` today); each backend is one
package (``sqlite/``) and holds every SQL string. See docs/store.md.
"""
