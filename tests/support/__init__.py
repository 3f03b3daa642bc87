"""Helpers shared by the tests: throwaway databases, payloads, oracles, a TCP proxy."""
