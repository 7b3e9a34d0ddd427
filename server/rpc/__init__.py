"""The gRPC side of the server: servicer, request conversion, error mapping, interceptors, assembly.

It validates and converts; the math is the engine's (server/engine) and the scheduling the job
queue's (server/jobs.py).
"""
