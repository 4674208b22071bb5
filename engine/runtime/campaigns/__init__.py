"""Campaigns (issue 16 §3, S30): an e-mail to a segment, sent at a rate and tracked by Trellis.

- ``starting``: ``start_campaign`` reads the segment as the sender and queues one recipient row each;
- ``sending``: the worker's ``send_campaigns`` writes the due recipients' e-mails to the outbox;
- ``tracking``: signed open, click and unsubscribe tokens, and the links of an e-mail;
- ``engaging``: what an open, a click, an unsubscribe does (``engine.runtime.workflow.engagement``);
- ``suppression``: the one check that no e-mail goes to an address that must not be e-mailed;
- ``results``: a campaign's figures, as its reader may see them.
"""
