"""Example relying parties for identity_service: a hospital check-in desk and a public service portal.

Run them from the repository root against ``identity-service serve`` (see this folder's README).
"""
