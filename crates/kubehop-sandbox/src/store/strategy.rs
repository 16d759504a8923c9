//! What the API server does on write to kinds whose defaulting the admission step does not
//! cover: a Secret's `stringData` is merged into `data` (base64) and dropped, and its type
//! defaults to Opaque.

use super::*;

/// Normalizes `object` of `resource` as the API server stores it.
pub(super) fn normalize(resource: ResourceId, object: &mut Value) {
    if resource == ResourceId::Secrets {
        secret(object);
    }
}

fn secret(object: &mut Value) {
    use base64::Engine;
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(strings)) = map.remove("stringData") {
        let data = map.entry("data").or_insert_with(|| json!({}));
        if data.is_null() {
            *data = json!({});
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in strings {
                let text = value.as_str().unwrap_or("");
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(key, json!(encoded));
            }
        }
    }
    let typed = map
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !typed {
        map.insert("type".into(), json!("Opaque"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_data_becomes_data() {
        let mut secret =
            json!({"stringData": {"password": "hunter2"}, "data": {"user": "YWRtaW4="}});
        normalize(ResourceId::Secrets, &mut secret);
        assert_eq!(
            secret,
            json!({"type": "Opaque", "data": {"user": "YWRtaW4=", "password": "aHVudGVyMg=="}})
        );
    }
}
