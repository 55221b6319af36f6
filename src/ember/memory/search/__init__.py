"""Memory search: candidates from words, vectors and time over the messages, ranked; and one
search across messages, episodes, lessons and skills (``federated``)."""
