"""Tessera's gRPC inference server: serves the registry's style generators over tiles."""
