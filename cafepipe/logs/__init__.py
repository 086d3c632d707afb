"""The access log: generate, ship, run commands over SSM, simulate on the stack."""
