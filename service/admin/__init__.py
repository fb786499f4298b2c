"""The admins' dashboard: a signed-in page of aggregate campaign metrics."""
