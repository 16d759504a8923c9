//! Bytes in, one request to the sandbox's API server out (no socket): every path, query
//! (label and field selectors, paging, resource versions), content type and body (objects,
//! merge / strategic merge / JSON patches, delete options) must get a proper answer: never a
//! panic (the handler's 500), an error always a one-line Status.
//!
//! Input: byte 0 picks the method, byte 1 the Content-Type, then the URI up to the first
//! newline, then the body. Run: see fuzz/README.md.
#![no_main]

use std::cell::RefCell;

use kubehop::sandbox::fuzzing::RequestHarness;
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PATCH",
];
const CONTENT_TYPES: [&str; 8] = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
    "",
    "application/vnd.kubernetes.protobuf",
];

thread_local! {
    static HARNESS: RefCell<RequestHarness> = RefCell::new(RequestHarness::new());
}

fuzz_target!(|data: &[u8]| {
    let [method, content_type, rest @ ..] = data else {
        return;
    };
    let method = METHODS[usize::from(*method) % METHODS.len()];
    let content_type = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()];
    let (uri, body) = match rest.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(uri) = std::str::from_utf8(uri) else {
        return;
    };
    let Some(answer) =
        HARNESS.with(|harness| harness.borrow_mut().handle(method, uri, content_type, body.to_vec()))
    else {
        return;
    };
    assert_ne!(answer.status, 500, "{method} {uri}: {:?}", String::from_utf8_lossy(&answer.body));
    if answer.status >= 400 && method != "HEAD" {
        let status: serde_json::Value =
            serde_json::from_slice(&answer.body).expect("an error answer is a JSON Status");
        assert_eq!(status["kind"], "Status", "{status}");
        let message = status["message"].as_str().expect("a Status has a message");
        assert!(!message.contains('\n'), "{method} {uri}: {message:?}");
    }
});
