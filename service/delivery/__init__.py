"""Delivery: composing the generic email, SMTP with TLS required, the retry policy, the relay's
rate and the send pipeline. May import core, db and engagement (tracking links).
"""
