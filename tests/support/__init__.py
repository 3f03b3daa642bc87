"""Helpers shared by the tests: throwaway databases, payloads, oracles, a TCP proxy, API keys
by role and waiting with a deadline."""
