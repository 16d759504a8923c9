//! The Kubernetes behaviour rules of docs/rules.md, series by series; test names carry the rule ids.

mod a_endpoints;
mod b_ports;
mod c_front_doors;
mod d_selection;
mod diagnostics;
mod e_affinity;
mod f_dns;
mod fixes;
mod g_validation;
mod gw_gateway;
mod gw_precision;
mod json_shape;
