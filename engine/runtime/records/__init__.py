"""Records: the one write path (``Session``, its named stages where features join, the transaction's unit of work),
the one read path (``Query``, list parameters), validation, stored files, saved views, and what a
reader may see of a record, formatted as they read it.
"""
