"""``make dev`` and the tests' real parts: a local relay that requires STARTTLS, a throwaway test
CA, and the one-command development run. Never used in production; may import everything.
"""
