"""Exit codes are part of the contract (SPEC §9): CI pipelines branch on them."""

OK = 0
VALIDATION_ERRORS = 1
USAGE = 2
DATABASE_UNREACHABLE = 3
# `packsync plan` only: the sync would change the database (and nothing fails),
# as `terraform plan -detailed-exitcode` answers 2; 0 there means nothing to do.
CHANGES_PENDING = 4
