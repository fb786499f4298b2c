"""The stores: PostgreSQL (pool, forward-only migrations, named SQL) and Redis (the job queue,
which carries ids only). May import core.
"""
