//! The recorded demo in the repository: `assets/demo.cast` is an asciinema v2 cast of the real
//! TUI (made by `assets/demo/record.sh`), and the README's images exist.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn the_cast_is_asciinema_v2_of_the_real_tui() {
    let cast = read("assets/demo.cast");
    let mut lines = cast.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("a header line")).expect("a JSON header");
    assert_eq!(header["version"], 2);
    assert!(
        header["width"].as_u64().is_some_and(|w| w >= 80),
        "{header}"
    );
    assert!(
        header["height"].as_u64().is_some_and(|h| h >= 24),
        "{header}"
    );

    let mut last = 0.0;
    let mut output = String::new();
    for (index, line) in lines.enumerate() {
        let event: (f64, String, String) = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("event {index} is not [time, type, data]: {error}"));
        assert!(event.0 >= last, "event {index} goes back in time");
        last = event.0;
        if event.1 == "o" {
            output.push_str(&event.2);
        }
    }
    assert!(last > 10.0, "a story, not a flash: {last} s");
    // What the TUI and kubectl really printed along the story.
    for expected in [
        "billing/invoices",
        "selector-no-match",
        "matches no pod",
        "Explain",
        "kubectl patch svc invoices -n billing",
        "service/invoices patched",
        "No findings",
        "shop/web-lb",
        "as predicted",
    ] {
        assert!(
            output.contains(expected),
            "the cast never shows `{expected}`"
        );
    }
}

#[test]
fn the_readme_and_docs_images_exist_and_are_svg() {
    let mut pages = vec![("README.md".to_owned(), "".to_owned())];
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).expect("docs/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".md") {
            pages.push((format!("docs/{name}"), "docs/".to_owned()));
        }
    }
    let mut images = std::collections::BTreeSet::new();
    for (page, base) in pages {
        for part in read(&page).split("](").skip(1) {
            let Some(target) = part.split(')').next() else {
                continue;
            };
            if !target.ends_with(".svg") {
                continue;
            }
            let path = Path::new(&base).join(target);
            let svg = read(path.to_str().expect("UTF-8 path"));
            assert!(svg.contains("<svg"), "{page}: {target} is not an SVG");
            images.insert(std::fs::canonicalize(Path::new(ROOT).join(&path)).expect("exists"));
        }
    }
    assert!(
        images.len() >= 6,
        "README and docs show {} SVG images",
        images.len()
    );
}

#[test]
fn the_recording_script_and_tape_are_in_the_repository() {
    use std::os::unix::fs::PermissionsExt;

    let script = Path::new(ROOT).join("assets/demo/record.sh");
    let mode = std::fs::metadata(&script)
        .expect("record.sh")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "record.sh is not executable");
    let tape = read("assets/demo.tape");
    assert!(tape.contains("Output assets/demo.gif"));
    assert!(tape.contains("kubectl patch svc invoices -n billing"));
}
