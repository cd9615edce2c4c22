"""Public service portal: browse at level 1, submit a dossier at level 2 (step-up), logout both ways."""
