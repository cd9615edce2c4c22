"""Hospital check-in desk: staff log in at level 1; a patient logs in at level 2 for the insurance lookup."""
