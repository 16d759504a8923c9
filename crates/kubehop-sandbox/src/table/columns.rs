//! The Table columns kubectl shows for each kind, one function per kind.

use super::*;

/// The columns for `resource`: the printer's column list for each kind.
pub fn columns(resource: ResourceId) -> Vec<Column> {
    match resource {
        ResourceId::Namespaces => vec![NAME, col("Status", "The status of the namespace"), AGE],
        ResourceId::Nodes => nodes_columns(),
        ResourceId::Pods => pods_columns(),
        ResourceId::Services => services_columns(),
        ResourceId::Endpoints => endpoints_columns(),
        ResourceId::EndpointSlices => endpoint_slices_columns(),
        ResourceId::Ingresses => ingresses_columns(),
        ResourceId::Deployments => deployments_columns(),
        ResourceId::StatefulSets => stateful_sets_columns(),
        ResourceId::Events => events_columns(),
        ResourceId::ReplicaSets | ResourceId::ReplicationControllers => replica_set_columns(),
        ResourceId::DaemonSets => daemon_set_columns(),
        ResourceId::Jobs => job_columns(),
        ResourceId::IngressClasses => vec![
            NAME,
            col(
                "Controller",
                "Controller refers to the name of the controller that should handle this class.",
            ),
            col(
                "Parameters",
                "Parameters is a link to a custom resource containing additional configuration for the controller.",
            ),
            AGE,
        ],
        _ => super::extra::columns(resource),
    }
}

fn nodes_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Status", "The status of the node"),
        col("Roles", "The roles of the node"),
        AGE,
        col("Version", "Kubelet Version reported by the node."),
        wide("Internal-IP", "List of internal IPs in the node."),
        wide("External-IP", "List of external IPs in the node."),
        wide(
            "OS-Image",
            "OS Image reported by the node from /etc/os-release.",
        ),
        wide("Kernel-Version", "Kernel Version reported by the node."),
        wide(
            "Container-Runtime",
            "Container Runtime Version reported by the node.",
        ),
    ]
}

fn pods_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Ready",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide(
            "IP",
            "IP address allocated to the pod. Routable at least within the cluster.",
        ),
        wide("Node", "Name of the Node this pod is bound to."),
        wide(
            "Nominated Node",
            "Name of the Node this pod is nominated to run on.",
        ),
        wide(
            "Readiness Gates",
            "Readiness gates of this pod, with the number of them passing.",
        ),
    ]
}

fn services_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Type",
            "The type of the service: ClusterIP, NodePort, LoadBalancer or ExternalName.",
        ),
        col(
            "Cluster-IP",
            "The IP address assigned to the service by the cluster.",
        ),
        col(
            "External-IP",
            "The external IPs of the service, or its LoadBalancer ingress.",
        ),
        col("Port(s)", "The ports the service exposes, with nodePorts."),
        AGE,
        wide(
            "Selector",
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ]
}

fn endpoints_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Endpoints",
            "Endpoints of the service (ip:port, up to three).",
        ),
        AGE,
    ]
}

fn endpoint_slices_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "AddressType",
            "The type of address carried by this EndpointSlice.",
        ),
        col("Ports", "The ports of this EndpointSlice."),
        col("Endpoints", "The addresses of the endpoints (up to three)."),
        AGE,
    ]
}

fn ingresses_columns() -> Vec<Column> {
    vec![
        NAME,
        col(
            "Class",
            "The name of the IngressClass resource that should be used.",
        ),
        col("Hosts", "Hosts that incoming requests are matched against."),
        col(
            "Address",
            "Address is a list containing ingress points for the load-balancer.",
        ),
        col("Ports", "Ports of TLS configurations that open."),
        AGE,
    ]
}

fn deployments_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Ready", "Number of the pod with ready state"),
        int(
            "Up-to-date",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        int(
            "Available",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        wide("Containers", "Names of each container in the template."),
        wide(
            "Images",
            "Images referenced by each container in the template.",
        ),
        wide("Selector", "Label selector for pods."),
    ]
}

fn stateful_sets_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Ready", "Number of the pod with ready state"),
        AGE,
        wide("Containers", "Names of each container in the template."),
        wide(
            "Images",
            "Images referenced by each container in the template.",
        ),
    ]
}

fn events_columns() -> Vec<Column> {
    vec![
        col("Last Seen", "Time when last event occurred"),
        col("Type", "Type of this event (Normal, Warning)."),
        col("Reason", "Why the action was taken."),
        col("Object", "The object this event is about."),
        wide("Subobject", "The subobject this event is about."),
        wide("Source", "The component reporting this event."),
        col(
            "Message",
            "A human-readable description of the status of this operation.",
        ),
        wide(
            "First Seen",
            "The time at which the event was first recorded.",
        ),
        wide("Count", "The number of times this event has occurred."),
        Column {
            priority: 1,
            ..NAME
        },
    ]
}
