"""Sample data and demo users for ``trellis demo``, written through the normal write path."""
