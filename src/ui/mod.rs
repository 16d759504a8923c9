//! Pure rendering of the app state (issue: the TUI).
