"""Files: every path and file name defined once, atomic writes, and what the stages write and read back."""
