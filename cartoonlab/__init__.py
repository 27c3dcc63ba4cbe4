"""cartoonlab."""
