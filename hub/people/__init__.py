"""Personal accounts for the console (name, role, phone, a password hashed with Argon2id), so every human action in
the audit log names a person; configured API tokens stay for machines and guard-room stations.

- `passwords`: hashing and checking passwords (argon2-cffi), and what a new password must be.
- `store`: the `people` table; creating, resetting, disabling and enabling accounts, each audited.
"""

# A person's console session carries this before the person's name, so a session can never be taken for one opened
# with a configured token of the same name (nor the reverse).
PERSON_PREFIX = "person:"
