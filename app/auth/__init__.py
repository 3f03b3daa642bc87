"""API keys, roles and the dependencies that enforce them."""
