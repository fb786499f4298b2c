"""The operators' dashboard: sign-in with an admin key and a TOTP code, sessions, lockout, and
the aggregate engagement page drawn as server-made SVG. May import core, db, access, audit and
engagement.
"""
