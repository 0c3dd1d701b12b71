"""Engine metric scraping and the scaling policy (the policy is pure)."""
