//! The sandbox: its API server through kube-rs and kubectl, its control plane and data plane,
//! the built-in scenario, and `kubehop sandbox` as a user runs it. Loopback only.

#[path = "../support/mod.rs"]
mod support;

mod abuse;
mod api;
mod builtin;
mod cli;
mod control;
mod controllers;
mod dataplane;
mod dns;
mod dns_cli;
mod fd_exhaustion;
mod fixes;
mod forward_close;
mod forward_pod_gone;
mod forward_session;
mod gateway;
mod gateway_probe;
mod ingress;
mod installs;
mod kinds;
mod kubectl;
mod kubectl_writes;
mod netpol;
mod nodes;
mod port_forward_kubectl;
mod python_client;
mod real_apps;
mod scale;
mod udp;
mod unprivileged;
mod verbs;
