"""Screens of the practice TUI."""
