//! Embeds the Salesforce package's object and field definitions (`salesforce/force-app/…/objects`)
//! in the stand-in, so the stand-in org has exactly the schema the package installs. A build
//! script rather than a macro crate: cargo must rebuild when a file is added or removed, not only
//! when one changes, and only a build script can say so (`rerun-if-changed` on the directory).

use std::{env, fs, path::Path};

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let objects = Path::new(&manifest).join("../salesforce/force-app/main/default/objects");
    println!("cargo:rerun-if-changed={}", objects.display());
    let mut files = Vec::new();
    collect(&objects, &objects, &mut files);
    files.sort();
    let entries: String =
        files.iter().map(|(relative, absolute)| format!("    ({relative:?}, include_str!({absolute:?})),\n")).collect();
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("package_objects.rs");
    fs::write(out, format!("pub const OBJECT_FILES: &[(&str, &str)] = &[\n{entries}];\n")).expect("write OUT_DIR");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.to_string_lossy().ends_with("-meta.xml") {
            let relative = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            files.push((relative, path.canonicalize().expect("a readable file").to_string_lossy().into_owned()));
        }
    }
}
