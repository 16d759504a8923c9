//! The TUI event loop and its state (issue: the TUI).
