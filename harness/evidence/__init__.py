"""Evidence keys and the reuse they allow: what each record is evidence about."""
