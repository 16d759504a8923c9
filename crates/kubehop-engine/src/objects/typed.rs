//! A typed Pod rebuilt from a [`PodInfo`], for views that show a pod before (or without) a
//! fresh read.

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Pod, PodCondition, PodIP, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::pod::{ContainerInfo, PodInfo};

fn container(info: &ContainerInfo) -> Container {
    let ports: Vec<ContainerPort> = info
        .ports
        .iter()
        .map(|port| ContainerPort {
            name: port.name.as_deref().map(str::to_owned),
            container_port: port.container_port,
            protocol: port.protocol.as_deref().map(str::to_owned),
            ..ContainerPort::default()
        })
        .collect();
    Container {
        name: info.name.to_string(),
        ports: (!ports.is_empty()).then_some(ports),
        restart_policy: info.restart_always.then(|| "Always".to_owned()),
        ..Container::default()
    }
}

fn conditions(info: &PodInfo) -> Vec<PodCondition> {
    let mut out = Vec::new();
    if let Some(why) = info.not_scheduled() {
        out.push(PodCondition {
            type_: "PodScheduled".to_owned(),
            status: "False".to_owned(),
            message: Some(why.to_string()),
            ..PodCondition::default()
        });
    }
    out.push(PodCondition {
        type_: "Ready".to_owned(),
        status: if info.ready { "True" } else { "False" }.to_owned(),
        ..PodCondition::default()
    });
    out
}

pub(super) fn typed_pod(info: &PodInfo) -> Pod {
    let labels = info.labels.as_ref().map(|labels| {
        labels
            .iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    });
    let owners: Vec<_> = info
        .owners
        .iter()
        .map(|owner| owner.to_reference())
        .collect();
    let ips = info.ips.as_slice();
    Pod {
        metadata: ObjectMeta {
            name: info.name.as_deref().map(str::to_owned),
            namespace: info.namespace.as_deref().map(str::to_owned),
            uid: info.uid.as_deref().map(str::to_owned),
            labels,
            owner_references: (!owners.is_empty()).then_some(owners),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: info.regular_containers().map(container).collect(),
            init_containers: Some(
                info.containers
                    .iter()
                    .filter(|c| c.init)
                    .map(container)
                    .collect::<Vec<_>>(),
            )
            .filter(|list| !list.is_empty()),
            node_name: info.node_name.as_deref().map(str::to_owned),
            hostname: info.hostname().map(str::to_owned),
            subdomain: info.subdomain().map(str::to_owned),
            host_network: info.host_network,
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: info.phase.as_deref().map(str::to_owned),
            pod_ip: ips.first().map(ToString::to_string),
            pod_ips: (!ips.is_empty())
                .then(|| ips.iter().map(|ip| PodIP { ip: ip.to_string() }).collect()),
            conditions: Some(conditions(info)),
            ..PodStatus::default()
        }),
    }
}
