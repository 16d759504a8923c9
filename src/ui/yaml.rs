//! The YAML tab: the selected object (the Service, an EndpointSlice, a Pod or a Node) without
//! managed fields and the last-applied annotation.

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ratatui::text::Line;

use super::text::truncate;
use super::theme::Theme;
use crate::app::catalog::Catalog;
use crate::app::chain::{NodeKind, OutlineNode};
use crate::app::state::{AppState, Focus};
use crate::engine::model::ServiceChain;
use crate::engine::objects::SliceInfo;

/// The YAML of the selected node's object (the Service while the Services pane has focus),
/// under a comment naming it; every line cut to the width.
pub(super) fn yaml_lines(
    state: &AppState,
    catalog: &Catalog,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let node = if state.focus == Focus::Services {
        None
    } else {
        state.selected_node()
    };
    let (title, text) = match yaml_object(catalog, chain, node) {
        Ok(pair) => pair,
        Err(error) => {
            return vec![Line::styled(
                format!("cannot show YAML: {error}"),
                theme.error,
            )];
        }
    };
    let mut lines = vec![Line::styled(
        truncate(&format!("# {title}"), width),
        theme.dim,
    )];
    lines.extend(text.lines().map(|line| Line::raw(truncate(line, width))));
    lines
}

/// A copy without managed fields and kubectl's last-applied annotation.
fn trimmed<T: Metadata<Ty = ObjectMeta> + Clone>(object: &T) -> T {
    let mut object = object.clone();
    let metadata = object.metadata_mut();
    metadata.managed_fields = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }
    object
}

/// A title and the object's YAML.
type Titled = Result<(String, String), serde_saphyr::ser::Error>;

fn titled<T: Metadata<Ty = ObjectMeta> + Clone + serde::Serialize>(
    title: String,
    object: &T,
) -> Titled {
    Ok((title, serde_saphyr::to_string(&trimmed(object))?))
}

/// The selected object as YAML: the Service, an EndpointSlice, a Pod or a Node. kubehop never
/// reads Secrets, so none can appear here.
fn yaml_object(catalog: &Catalog, chain: &ServiceChain, node: Option<&OutlineNode>) -> Titled {
    let found = match node.map(|node| &node.kind) {
        Some(NodeKind::Endpoint { port, endpoint }) => endpoint_yaml(chain, *port, *endpoint),
        Some(NodeKind::Slice { name, .. }) => slice_yaml(chain, name),
        Some(NodeKind::NodePort { row, .. }) => catalog
            .snapshot
            .nodes
            .iter()
            .find(|candidate| candidate.metadata.name.as_deref() == Some(row.node.as_str()))
            .map(|found| titled(format!("Node {}", row.node), found.as_ref())),
        _ => None,
    };
    if let Some(found) = found {
        return found;
    }
    let title = format!("Service {}/{}", chain.namespace, chain.name);
    match &chain.details.service {
        Some(service) => titled(title, service.as_ref()),
        None => Ok((title, String::new())),
    }
}

/// An endpoint's Pod, or its EndpointSlice when the pod is not known.
fn endpoint_yaml(chain: &ServiceChain, port: Option<usize>, endpoint: usize) -> Option<Titled> {
    let info = match port.and_then(|index| chain.ports.get(index)) {
        Some(port) => port.endpoints.get(endpoint).map(|found| found.info.clone()),
        None => chain.details.endpoints.get(endpoint).cloned(),
    };
    let pod = info.as_ref().and_then(|info| {
        let name = info.pod.as_deref()?;
        chain
            .details
            .selected_pods
            .iter()
            .find(|pod| pod.name.as_deref() == Some(name))
    });
    if let Some(pod) = pod {
        // The source's copy (a dump's); from a live cluster, what its compact cache holds,
        // said in the title (`y` reads the whole pod).
        let name = pod.name.as_deref().unwrap_or_default();
        let partial = if pod.object.is_none() {
            " · the fields kubehop keeps (y reads the whole pod)"
        } else {
            ""
        };
        return Some(titled(
            format!("Pod {}/{name}{partial}", chain.namespace),
            pod.to_pod().as_ref(),
        ));
    }
    slice_yaml(chain, &info?.slice)
}

/// An EndpointSlice by name; kubehop says so when it derived the slice itself.
fn slice_yaml(chain: &ServiceChain, name: &str) -> Option<Titled> {
    let slice = chain
        .details
        .slices
        .iter()
        .find(|slice| slice.metadata.name.as_deref() == Some(name))?;
    Some(titled(
        format!(
            "EndpointSlice {}/{name}{}",
            chain.namespace,
            slice_note(chain.endpoints_derived, slice)
        ),
        slice.to_slice().as_ref(),
    ))
}

/// What the title says of a slice: derived by kubehop, or, from a live cluster, the fields its
/// compact cache keeps (`y` reads the whole slice).
fn slice_note(derived: bool, slice: &SliceInfo) -> &'static str {
    if derived {
        " (derived by kubehop)"
    } else if slice.object.is_none() {
        " · the fields kubehop keeps (y reads the whole slice)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    #[test]
    fn a_slice_title_says_whether_it_is_whole_kept_or_derived() {
        let typed = EndpointSlice::default();
        let whole = SliceInfo::from(typed.clone());
        let kept = SliceInfo::from_slice(&typed, &mut crate::engine::objects::Interner::new());
        assert_eq!(slice_note(false, &whole), "");
        assert_eq!(
            slice_note(false, &kept),
            " · the fields kubehop keeps (y reads the whole slice)"
        );
        assert_eq!(slice_note(true, &kept), " (derived by kubehop)");
    }
}
