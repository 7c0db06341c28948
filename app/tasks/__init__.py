"""RQ jobs, called "tasks" because "job" is a domain word here."""
