"""The operators' dashboard: sign-in with an admin key, sessions, and the aggregate engagement
page drawn as server-made SVG. May import core, db, access and engagement.
"""
