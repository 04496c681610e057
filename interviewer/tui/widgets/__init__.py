"""Widgets of the practice TUI."""
