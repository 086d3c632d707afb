"""The café's facts: its menu, where its customers are, who else visits, AWS limits, metrics."""
