//! Compact owned forms of the objects that scale with the cluster (pods, and the endpoints of
//! EndpointSlices), holding only what the engine and the views read, with strings and lists
//! shared through an [`Interner`].

mod intern;
mod pod;
mod slice;
mod typed;

pub use intern::Interner;
pub use pod::{ContainerInfo, LabelLookup, Labels, Owner, PodExtra, PodInfo, PodIps, PortInfo};
pub use slice::{Conditions, EndpointEntry, EndpointExtra, SliceInfo, Target};
