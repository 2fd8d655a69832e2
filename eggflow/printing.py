"""Printing (debugprint, pydotprint): see issue; filled in below."""
