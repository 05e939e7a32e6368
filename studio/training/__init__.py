"""Training side of the studio: model loading, generation and the RLHF engines (no Qt)."""
