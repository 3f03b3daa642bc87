"""Border crossing points, their status history and what happened near them."""
