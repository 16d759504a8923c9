//! `kubehop chain -o wide`: one row per Service port, kubectl-style columns.
//!
//! The columns are aligned over the whole table, yet rows are never held: a first pass over
//! the selected chains measures the columns, a second writes the rows (each chain built and
//! dropped in turn both times), so memory stays that of one Service's chain.

use std::io::{self, Write};

use super::Selected;
use super::text::summary_line;
use crate::engine::hops;
use crate::engine::model::{PortChain, ServiceType};
use crate::engine::{Diagnostic, ServiceChain, Severity, Subject};
use crate::output::style::Style;
use crate::output::tree::visible_width;

const HEADERS: [&str; 7] = [
    "NAMESPACE",
    "NAME",
    "PORT",
    "TYPE",
    "FRONT-DOORS",
    "ENDPOINTS",
    "FINDING",
];

/// Writes the table of every selected Service's ports, then the summary line.
pub fn write_wide(
    out: &mut dyn Write,
    selected: &Selected<'_, '_>,
    style: Style,
) -> io::Result<()> {
    let mut widths = HEADERS.map(str::len);
    selected.for_each_chain(|chain| {
        for row in rows(chain, style) {
            for (width, cell) in widths.iter_mut().zip(&row) {
                *width = (*width).max(visible_width(cell));
            }
        }
        Ok::<(), io::Error>(())
    })?;
    write_row(out, &HEADERS.map(|header| style.bold(header)), &widths)?;
    selected.for_each_chain(|chain| {
        rows(chain, style)
            .iter()
            .try_for_each(|row| write_row(out, row, &widths))
    })?;
    // Findings that belong to no Service (an Ingress backend naming none): one line each.
    if !selected.diagnostics.is_empty() {
        writeln!(out)?;
    }
    for scoped in &selected.diagnostics {
        let diagnostic = &scoped.diagnostic;
        writeln!(
            out,
            "{}/{}   {}",
            scoped.namespace,
            diagnostic.subject,
            match diagnostic.severity {
                Severity::Error => style.red(diagnostic.code.as_str()),
                _ => style.yellow(diagnostic.code.as_str()),
            }
        )?;
    }
    if selected.service_count() > 0 {
        writeln!(out)?;
        writeln!(out, "{}", summary_line(selected))?;
    }
    Ok(())
}

fn write_row(out: &mut dyn Write, row: &[String; 7], widths: &[usize; 7]) -> io::Result<()> {
    let mut line = String::new();
    for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
        if column > 0 {
            line.push_str("   ");
        }
        line.push_str(cell);
        line.extend(std::iter::repeat_n(
            ' ',
            width.saturating_sub(visible_width(cell)),
        ));
    }
    writeln!(out, "{}", line.trim_end())
}

/// The rows of one Service: one per port, or one row for a Service without ports.
fn rows(chain: &ServiceChain, style: Style) -> Vec<[String; 7]> {
    let kind = if chain.headless {
        "Headless".to_owned()
    } else {
        chain.service_type.as_str().to_owned()
    };
    let name = |port: Option<&PortChain>| -> [String; 3] {
        [
            chain.namespace.clone(),
            chain.name.clone(),
            port.map_or_else(|| "-".to_owned(), port_text),
        ]
    };
    if chain.ports.is_empty() {
        let [namespace, service, port] = name(None);
        let doors = match (&chain.external_name, chain.service_type) {
            (Some(target), ServiceType::ExternalName) => format!("cname:{target}"),
            _ => "-".to_owned(),
        };
        let endpoints = if chain.service_type == ServiceType::ExternalName {
            "-".to_owned()
        } else {
            let ready = chain.details.endpoints.iter().filter(|e| e.ready).count();
            format!("{ready}/{}", chain.details.endpoints.len())
        };
        let finding = worst(chain, None, style);
        return vec![[namespace, service, port, kind, doors, endpoints, finding]];
    }
    chain
        .ports
        .iter()
        .enumerate()
        .map(|(index, port)| {
            let [namespace, service, port_cell] = name(Some(port));
            let ready = port.endpoints.iter().filter(|e| e.info.ready).count();
            [
                namespace,
                service,
                port_cell,
                kind.clone(),
                front_doors(chain, index, port),
                format!("{ready}/{}", port.endpoints.len()),
                worst(chain, Some(port), style),
            ]
        })
        .collect()
}

/// `http=80/TCP`, or `80/TCP` for an unnamed port.
fn port_text(port: &PortChain) -> String {
    match port.name.as_deref().filter(|name| !name.is_empty()) {
        Some(name) => format!("{name}={}/{}", port.port, port.protocol),
        None => format!("{}/{}", port.port, port.protocol),
    }
}

/// What reaches a port from outside the Service: `ingress:2,lb:203.0.113.7,nodePort:31080,
/// clusterIP:10.0.0.1`, or `-`.
fn front_doors(chain: &ServiceChain, index: usize, port: &PortChain) -> String {
    let mut doors = Vec::new();
    let ingresses = hops::ingress_hops(chain, Some(index)).len();
    if ingresses > 0 {
        doors.push(format!("ingress:{ingresses}"));
    }
    for entry in &port.load_balancer {
        if let Some(address) = entry.ip.as_ref().or(entry.hostname.as_ref()) {
            doors.push(format!("lb:{address}"));
        }
    }
    if let Some(node_port) = port.node_port {
        doors.push(format!("nodePort:{node_port}"));
    }
    if let Some(cluster_ip) = &port.cluster_ip {
        doors.push(format!("clusterIP:{}", cluster_ip.ip));
    }
    if doors.is_empty() {
        "-".to_owned()
    } else {
        doors.join(",")
    }
}

/// The code of the worst error or warning about the Service or this port (`-` if none).
fn worst(chain: &ServiceChain, port: Option<&PortChain>, style: Style) -> String {
    let label = port.map(
        |port| match port.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => format!("{}/{}", port.port, port.protocol),
        },
    );
    let concerns = |diagnostic: &&Diagnostic| match &diagnostic.subject {
        Subject::Port(subject) => label.as_deref() == Some(subject.as_str()),
        _ => true,
    };
    let found = chain
        .diagnostics
        .iter()
        .filter(concerns)
        .filter(|diagnostic| diagnostic.severity != Severity::Info)
        .min_by_key(|diagnostic| diagnostic.severity);
    match found {
        Some(diagnostic) if diagnostic.severity == Severity::Error => {
            style.red(diagnostic.code.as_str())
        }
        Some(diagnostic) => style.yellow(diagnostic.code.as_str()),
        None => "-".to_owned(),
    }
}
