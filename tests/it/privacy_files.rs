//! The data directory is private to the daemon's user: created 0700, files 0600, and a directory
//! an older version left world-readable is tightened at start.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::harness::write_definitions;
use crate::privacy_support::{Node, files_under, settings_with_roles};

const FLOW: &str = "id: flow
channel: sms
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: bye, end: done }
";

#[tokio::test]
async fn the_store_and_keys_are_readable_by_the_daemons_user_only() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("flow", FLOW)], &[("hello.j2", "Bonjour !")]);
    let settings = settings_with_roles(dir.path());
    let data = settings.data_dir.clone();
    // As an older version left it: world-readable.
    std::fs::create_dir_all(data.join("keys")).unwrap();
    std::fs::write(data.join("keys/old-bucket"), b"x").unwrap();
    for (path, mode) in [(data.clone(), 0o755), (data.join("keys"), 0o755), (data.join("keys/old-bucket"), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let node = Node::start(settings).await;
    let id = node.import(json!({"workflow": "flow", "phone": "+33611330001"})).await;
    node.wait_for(&id, "done", |v| v["status"] == "completed").await;
    node.stop().await;

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data_dir");
    let files = files_under(&data);
    assert!(files.len() > 3, "the store wrote files: {files:?}");
    let open: Vec<_> = files.iter().filter(|f| mode(f) & 0o077 != 0).map(|f| (f.clone(), mode(f))).collect();
    assert!(open.is_empty(), "files readable by others: {open:?}");
}
