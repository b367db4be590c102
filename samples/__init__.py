"""Real business functions that the contract suite runs everywhere."""
