//! The screen's areas live in [`crate::app::layout`]: the app pages, keeps cursors in view and
//! hit-tests the mouse with them, and the panes are drawn into the same areas. Re-exported
//! here for code that places panes.

pub use crate::app::layout::*;
