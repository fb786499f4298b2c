"""The staff pages: sign-in with an admin or marketer key and a TOTP code, sessions, lockout;
the aggregate engagement page; the campaigns with their progress, ETA and controls; delivery
health; and the marketer's campaign editor. Charts are server-made SVG. May import core, db,
access, audit, engagement, campaigns (its moves through ``actions`` only), and for the editor
delivery (the preview) and subjects.
"""
