"""An account of the organization: whether every region of the scope is recorded by a logging multi-region trail
(`facts`, `checks`, `repairs`, `guard`)."""
