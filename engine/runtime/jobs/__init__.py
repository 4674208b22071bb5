"""Work done after the transaction: the background worker, the outbox and its delivery,
notifications (written and read), schedule checkpoints, the automation admin's view.
"""
