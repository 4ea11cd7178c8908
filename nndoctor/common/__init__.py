"""What the run engine and the curve tool share, without torch: the diagnostic base class and its options,
selection (`--select` / `--ignore`), the isolation of one diagnostic's turn, and error text."""
