"""Mail in and out (issue 16 §2, S27): ``parse`` reads a message (MIME, charsets, HTML, attachments,
threading ids, auto-replies, delivery reports); ``imap`` reads a mailbox's new messages exactly once;
``intake`` routes each (thread, sender, unknown sender) and ``log`` writes it on the timeline;
``outbound`` sends an e-mail written on a record through the outbox."""
