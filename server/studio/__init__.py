"""GAN Collage on Ray Serve: the same gRPC contract and servicer, across GPUs and machines.

    python -m server.studio --port 50051 --replicas 2 --token SECRET

Ray Serve's gRPC proxy takes every call and hands it, as bytes, to the front deployment (front.py):
token, request and model name checked there, GetServerInfo, ListModels and health answered there, job
calls forwarded to a replica (replica.py) chosen by Ray for the model they name. A replica runs the plain
server's servicer (server/rpc/servicer.py) and job queue, one job at a time. contract.py is what the
proxy learns of the contract, settings.py what the starting process hands the deployments, app.py the
deployments' shape (replicas, CPUs, GPUs, queue bound). Needs the `studio` extra (`ray[serve]`).
"""
