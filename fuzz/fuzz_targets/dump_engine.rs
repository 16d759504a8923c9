//! Fuzzes the whole `--from-file` path: bytes → dump loader → engine build → routes to every
//! front door → every printed form of `kubehop chain`. Nothing may panic; everything that loads
//! must build, route and print.
//!
//! ```sh
//! mkdir -p fuzz/corpus/dump_engine
//! RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none --debug-assertions dump_engine \
//!     fuzz/corpus/dump_engine assets/scenarios -- -max_len=65536 -timeout=10 -rss_limit_mb=2048
//! ```
#![no_main]

use std::net::IpAddr;

use kubehop::cli::OutputFormat;
use kubehop::cluster::dump;
use kubehop::engine::{EngineConfig, RouteQuery, TrafficSource, Verdict, build};
use kubehop::output::chain::{ChainSelection, Scope};
use kubehop::output::style::Style;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(load) = dump::load_bytes("fuzz.yaml", data) else {
        return;
    };
    let config = EngineConfig::default();
    let model = build(&load.snapshot, &config);
    let node = model.node_names().next().unwrap_or("node-1").to_owned();
    for chain in model.services.iter().take(16) {
        for port in chain.ports.iter().take(8) {
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            let mut destinations: Vec<(IpAddr, u16)> =
                chain.cluster_ips.iter().map(|ip| (*ip, number)).collect();
            for entry in &port.load_balancer {
                if let Some(ip) = entry.ip.as_deref().and_then(|ip| ip.parse().ok()) {
                    destinations.push((ip, number));
                }
            }
            if let Some(node_port) = port.node_port.and_then(|p| u16::try_from(p).ok()) {
                for row in port.node_ports.rows().take(4) {
                    destinations.push((row.address, node_port));
                }
            }
            for (ip, port_number) in destinations {
                for source in [
                    TrafficSource::Pod { node: node.clone() },
                    TrafficSource::Node { node: node.clone() },
                    TrafficSource::External { node: node.clone() },
                ] {
                    let decision = model.route(&RouteQuery {
                        destination: ip,
                        port: port_number,
                        protocol: port.protocol,
                        source,
                        source_ip: Some(IpAddr::from([127, 9, 9, 9])),
                    });
                    assert!(decision.verdict == Verdict::Forward || decision.endpoints.is_empty());
                    serde_json::to_string(&decision).expect("route JSON");
                }
            }
        }
    }
    let selection = ChainSelection {
        scope: Scope::All,
        service: None,
    };
    for format in [OutputFormat::Text, OutputFormat::Json, OutputFormat::Yaml] {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let status = kubehop::output::run::print_chain(
            &load.snapshot,
            &config,
            &selection,
            format,
            Style::PLAIN,
            &mut out,
            &mut err,
        )
        .expect("printing to memory works");
        assert_eq!(status, u8::from(model.has_errors()));
    }
});
