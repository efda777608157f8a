"""People: accounts, sign-in (local passwords and OpenID Connect), personal access tokens, roles, groups,
the permission policy and the audit log."""
