"""Local fakes of outside services, served on loopback for tests (ARCHITECTURE.md rule 6)."""
