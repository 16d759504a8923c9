//! The subcommands that are not part of the library's other layers.

pub mod sandbox;
