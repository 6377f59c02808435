"""Exit codes are part of the contract (SPEC §9): CI pipelines branch on them."""

OK = 0
VALIDATION_ERRORS = 1
USAGE = 2
DATABASE_UNREACHABLE = 3
