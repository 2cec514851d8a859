"""The email channel: IMAP in (push by IDLE, batched, checkpointed by UID), SMTP out."""
