"""The plug-in's GIMP-free core: what each action asks the server and the layers it adds, the session that
makes the calls, Live preview's flow control, latents kept as parasites, settings and messages.

Nothing here imports gi: tests drive it with plain data. Importing the package first puts the plug-in's
vendor/ (server.shared, the pure-Python gRPC stack) on sys.path.
"""
import vendored  # noqa: F401
