"""Stage package (filled by later issues)."""
