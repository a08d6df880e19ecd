"""Authorization: which principal may do which action on which bucket."""
