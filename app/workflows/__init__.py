"""Pure transition tables: no database, no Flask."""
