"""convforge design-space exploration: networks, boards, models, genetic search, build CLI."""
