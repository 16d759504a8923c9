//! The built-in resources: every kind a Kubernetes 1.37 API server serves by default that a
//! user can write or read, derived from k8s-openapi's types. Group, version, kind, plural and
//! scope are the types' constants; the singular name is the lowercased kind, as the API server
//! makes it. Only what the types do not carry is written here: short names, categories,
//! subresources, field selectors, as the API server's discovery and strategies have them.
//!
//! The first eleven entries keep the order the sandbox always had (the store and its tests
//! iterate resources in this order).

use std::borrow::Cow;
use std::sync::LazyLock;

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling, batch::v1 as batch,
    certificates::v1 as certificates, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, flowcontrol::v1 as flowcontrol,
    networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
    resource::v1 as resource, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
use k8s_openapi::schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ResourceId, ResourceInfo, Typed};

/// Whether a k8s-openapi scope is namespaced.
trait Scope {
    const NAMESPACED: bool;
}

impl Scope for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// A built-in resource's description before it gets its id.
struct Spec {
    info: ResourceInfo,
    storage: Option<ResourceId>,
}

/// The resource a k8s-openapi type describes, with no short names, categories or subresources.
fn spec<K>() -> Spec
where
    K: k8s_openapi::Resource + JsonSchema + DeserializeOwned + Serialize,
    K::Scope: Scope,
{
    Spec {
        info: ResourceInfo {
            id: ResourceId(u16::MAX),
            group: K::GROUP,
            version: K::VERSION,
            plural: K::URL_PATH_SEGMENT,
            singular: Box::leak(K::KIND.to_ascii_lowercase().into_boxed_str()),
            kind: K::KIND,
            namespaced: <K::Scope as Scope>::NAMESPACED,
            short_names: &[],
            categories: &[],
            status_subresource: false,
            scale_subresource: false,
            read_only: false,
            tracks_generation: false,
            selectable_fields: &[],
            storage: ResourceId(u16::MAX),
            typed: Some(Typed {
                decode: decode_as::<K>,
                round_trip: round_trip::<K>,
                schema: |generator| generator.subschema_for::<K>(),
                schema_name: schema_name::<K>,
            }),
            custom: None,
        },
        storage: None,
    }
}

fn decode_as<K: DeserializeOwned>(object: &Value) -> Result<(), String> {
    K::deserialize(object).map(drop).map_err(|e| e.to_string())
}

fn round_trip<K: DeserializeOwned + Serialize>(object: &Value) -> Option<Value> {
    let typed = K::deserialize(object).ok()?;
    serde_json::to_value(typed).ok()
}

fn schema_name<K: JsonSchema>() -> Cow<'static, str> {
    K::schema_name()
}

impl Spec {
    fn short(mut self, names: &'static [&'static str]) -> Self {
        self.info.short_names = names;
        self
    }
    fn categories(mut self, categories: &'static [&'static str]) -> Self {
        self.info.categories = categories;
        self
    }
    /// In the `all` category (`kubectl get all`).
    fn all(self) -> Self {
        self.categories(&["all"])
    }
    fn status(mut self) -> Self {
        self.info.status_subresource = true;
        self
    }
    fn scale(mut self) -> Self {
        self.info.scale_subresource = true;
        self
    }
    fn generation(mut self) -> Self {
        self.info.tracks_generation = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.info.read_only = true;
        self
    }
    fn select(mut self, fields: &'static [&'static str]) -> Self {
        self.info.selectable_fields = fields;
        self
    }
    /// Another served version of `storage`'s objects.
    fn stored_as(mut self, storage: ResourceId) -> Self {
        self.storage = Some(storage);
        self
    }
    /// A workload: status, generation, in `all`.
    fn workload(self) -> Self {
        self.status().generation().all()
    }
}

/// The `api-extensions` category (`kubectl get api-extensions`).
const API_EXTENSIONS: &[&str] = &["api-extensions"];

macro_rules! builtin {
    ($($name:ident => $spec:expr,)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(u16)]
        enum Index { $($name,)* }

        #[allow(non_upper_case_globals)]
        impl ResourceId {
            $(pub const $name: ResourceId = ResourceId(Index::$name as u16);)*
            /// Every built-in resource.
            pub const ALL: [ResourceId; [$(Index::$name),*].len()] = [$(ResourceId::$name),*];
        }

        fn specs() -> Vec<(ResourceId, Spec)> {
            vec![$((ResourceId::$name, $spec)),*]
        }
    };
}

builtin! {
    Namespaces => spec::<core::Namespace>().short(&["ns"]).status().select(&["status.phase"]),
    Nodes => spec::<core::Node>().short(&["no"]).status().select(&["spec.unschedulable"]),
    Pods => spec::<core::Pod>().short(&["po"]).workload().select(&[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ]),
    Services => spec::<core::Service>().short(&["svc"]).workload()
        .select(&["spec.clusterIP", "spec.type"]),
    Endpoints => spec::<core::Endpoints>().short(&["ep"]).read_only(),
    EndpointSlices => spec::<discovery::EndpointSlice>().select(&["addressType"]),
    Ingresses => spec::<networking::Ingress>().short(&["ing"]).status().generation(),
    Deployments => spec::<apps::Deployment>().short(&["deploy"]).workload().scale(),
    StatefulSets => spec::<apps::StatefulSet>().short(&["sts"]).workload().scale(),
    Events => spec::<core::Event>().short(&["ev"]).select(&[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]),
    IngressClasses => spec::<networking::IngressClass>().generation(),
    // core/v1
    ConfigMaps => spec::<core::ConfigMap>().short(&["cm"]),
    Secrets => spec::<core::Secret>().select(&["type"]),
    ServiceAccounts => spec::<core::ServiceAccount>().short(&["sa"]),
    PersistentVolumeClaims => spec::<core::PersistentVolumeClaim>().short(&["pvc"]).status(),
    PersistentVolumes => spec::<core::PersistentVolume>().short(&["pv"]).status(),
    ResourceQuotas => spec::<core::ResourceQuota>().short(&["quota"]).status(),
    LimitRanges => spec::<core::LimitRange>().short(&["limits"]),
    ReplicationControllers => spec::<core::ReplicationController>().short(&["rc"]).workload()
        .scale().select(&["status.replicas"]),
    PodTemplates => spec::<core::PodTemplate>(),
    // apiregistration.k8s.io/v1
    APIServices => spec::<apiregistration::APIService>().status().categories(API_EXTENSIONS),
    // apps/v1
    ReplicaSets => spec::<apps::ReplicaSet>().short(&["rs"]).workload().scale()
        .select(&["status.replicas"]),
    DaemonSets => spec::<apps::DaemonSet>().short(&["ds"]).workload(),
    ControllerRevisions => spec::<apps::ControllerRevision>(),
    // events.k8s.io/v1
    EventsK8sIo => spec::<events::Event>().short(&["ev"]).stored_as(ResourceId::Events),
    // autoscaling/v2 and v1
    HorizontalPodAutoscalers => spec::<autoscaling::HorizontalPodAutoscaler>().short(&["hpa"])
        .workload(),
    HorizontalPodAutoscalersV1 => spec::<autoscaling_v1::HorizontalPodAutoscaler>()
        .short(&["hpa"]).workload().stored_as(ResourceId::HorizontalPodAutoscalers),
    // batch/v1
    CronJobs => spec::<batch::CronJob>().short(&["cj"]).workload(),
    Jobs => spec::<batch::Job>().workload().select(&["status.successful"]),
    // certificates.k8s.io/v1
    CertificateSigningRequests => spec::<certificates::CertificateSigningRequest>()
        .short(&["csr"]).status().select(&["spec.signerName"]),
    ClusterTrustBundles => spec::<certificates::ClusterTrustBundle>(),
    PodCertificateRequests => spec::<certificates::PodCertificateRequest>().status(),
    // networking.k8s.io/v1
    NetworkPolicies => spec::<networking::NetworkPolicy>().short(&["netpol"]).generation(),
    IPAddresses => spec::<networking::IPAddress>().short(&["ip"]),
    ServiceCIDRs => spec::<networking::ServiceCIDR>().status(),
    // policy/v1
    PodDisruptionBudgets => spec::<policy::PodDisruptionBudget>().short(&["pdb"]).status()
        .generation(),
    // rbac.authorization.k8s.io/v1
    ClusterRoleBindings => spec::<rbac::ClusterRoleBinding>(),
    ClusterRoles => spec::<rbac::ClusterRole>(),
    RoleBindings => spec::<rbac::RoleBinding>(),
    Roles => spec::<rbac::Role>(),
    // storage.k8s.io/v1
    CSIDrivers => spec::<storage::CSIDriver>(),
    CSINodes => spec::<storage::CSINode>(),
    CSIStorageCapacities => spec::<storage::CSIStorageCapacity>(),
    StorageClasses => spec::<storage::StorageClass>().short(&["sc"]),
    VolumeAttachments => spec::<storage::VolumeAttachment>().status(),
    VolumeAttributesClasses => spec::<storage::VolumeAttributesClass>().short(&["vac"]),
    // admissionregistration.k8s.io/v1
    MutatingWebhookConfigurations => spec::<admissionregistration::MutatingWebhookConfiguration>()
        .categories(API_EXTENSIONS).generation(),
    ValidatingWebhookConfigurations =>
        spec::<admissionregistration::ValidatingWebhookConfiguration>()
            .categories(API_EXTENSIONS).generation(),
    ValidatingAdmissionPolicies => spec::<admissionregistration::ValidatingAdmissionPolicy>()
        .status().categories(API_EXTENSIONS).generation(),
    ValidatingAdmissionPolicyBindings =>
        spec::<admissionregistration::ValidatingAdmissionPolicyBinding>()
            .categories(API_EXTENSIONS).generation(),
    MutatingAdmissionPolicies => spec::<admissionregistration::MutatingAdmissionPolicy>()
        .categories(API_EXTENSIONS).generation(),
    MutatingAdmissionPolicyBindings =>
        spec::<admissionregistration::MutatingAdmissionPolicyBinding>()
            .categories(API_EXTENSIONS).generation(),
    // apiextensions.k8s.io/v1
    CustomResourceDefinitions => spec::<apiextensions::CustomResourceDefinition>()
        .short(&["crd", "crds"]).status().categories(API_EXTENSIONS).generation(),
    // scheduling.k8s.io/v1
    PriorityClasses => spec::<scheduling::PriorityClass>().short(&["pc"]),
    // coordination.k8s.io/v1
    Leases => spec::<coordination::Lease>(),
    // node.k8s.io/v1
    RuntimeClasses => spec::<node::RuntimeClass>(),
    // flowcontrol.apiserver.k8s.io/v1
    FlowSchemas => spec::<flowcontrol::FlowSchema>().status().generation(),
    PriorityLevelConfigurations => spec::<flowcontrol::PriorityLevelConfiguration>().status()
        .generation(),
    // resource.k8s.io/v1
    DeviceClasses => spec::<resource::DeviceClass>().generation(),
    ResourceClaims => spec::<resource::ResourceClaim>().status(),
    ResourceClaimTemplates => spec::<resource::ResourceClaimTemplate>(),
    ResourceSlices => spec::<resource::ResourceSlice>().generation(),
}

/// The order a real API server lists its built-in groups in (`/apis`).
pub(super) const GROUP_ORDER: &[&str] = &[
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
];

static TABLE: LazyLock<Vec<ResourceInfo>> = LazyLock::new(|| {
    specs()
        .into_iter()
        .map(|(id, spec)| {
            let mut info = spec.info;
            info.id = id;
            info.storage = spec.storage.unwrap_or(id);
            info
        })
        .collect()
});

/// Every built-in resource, indexed by [`ResourceId`].
pub(super) fn table() -> &'static [ResourceInfo] {
    &TABLE
}
