"""Who may do what, and proof of what was done: users and teams, logins and passwords, API tokens,
web sessions, principals and record scopes, field encryption, the hash-chained audit trail.
"""
